//! The optional Thrift IDL files (`idl_files`): a small bounded reader of
//! the Thrift interface definition language (Apache Thrift
//! `doc/specs/idl.md`) that keeps only what the decoder shows: for each
//! function, its service, its parameters' ids and names and its declared
//! exceptions' ids and names. Everything else (structs, enums, constants,
//! typedefs, includes, namespaces, annotations) is skipped by balanced
//! brackets. Files are at most 4 MiB, nesting at most 64 levels; a file
//! that cannot be read or parsed is a one-line error naming the file and line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Bytes of one IDL file.
const MAX_FILE: u64 = 4 << 20;
/// Bracket nesting.
const MAX_NESTING: usize = 64;

/// One function of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// The service that declares it.
    pub service: String,
    /// Parameter names by field id.
    pub params: Vec<(i16, String)>,
    /// Declared exception names by field id of the result struct.
    pub exceptions: Vec<(i16, String)>,
}

impl Function {
    /// The parameter named for `id`.
    pub fn param(&self, id: i16) -> Option<&str> {
        self.params
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, n)| n.as_str())
    }

    /// The exception named for `id`.
    pub fn exception(&self, id: i16) -> Option<&str> {
        self.exceptions
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, n)| n.as_str())
    }
}

/// Every function of the IDL files, by name (the first file wins when two
/// declare the same name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Idl {
    /// Functions by method name.
    pub functions: HashMap<String, Function>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Int(i64),
    Str,
    Punct(char),
}

fn tokens(src: &str) -> Result<Vec<(Tok, usize)>, (usize, String)> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let start = line;
                i += 2;
                loop {
                    if i + 1 >= b.len() {
                        return Err((start, "unterminated comment".into()));
                    }
                    if b[i] == b'\n' {
                        line += 1;
                    }
                    if b[i] == b'*' && b[i + 1] == b'/' {
                        i += 2;
                        break;
                    }
                    i += 1;
                }
            }
            b'"' | b'\'' => {
                let q = c;
                let start = line;
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\n' {
                        line += 1;
                    }
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= b.len() {
                    return Err((start, "unterminated string".into()));
                }
                i += 1;
                out.push((Tok::Str, start));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let s = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.')
                {
                    i += 1;
                }
                out.push((Tok::Ident(src[s..i].to_string()), line));
            }
            c if c.is_ascii_digit()
                || ((c == b'-' || c == b'+') && b.get(i + 1).is_some_and(u8::is_ascii_digit)) =>
            {
                let s = i;
                i += 1;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'.'
                        || b[i] == b'-'
                        || b[i] == b'+')
                {
                    i += 1;
                }
                let text = &src[s..i];
                let v = text.parse::<i64>().ok().or_else(|| {
                    text.strip_prefix("0x")
                        .and_then(|h| i64::from_str_radix(h, 16).ok())
                });
                // Doubles and other literals only matter as "a value".
                out.push((Tok::Int(v.unwrap_or(0)), line));
            }
            c if b"{}()<>,;:=[]*".contains(&c) => {
                out.push((Tok::Punct(c as char), line));
                i += 1;
            }
            _ => return Err((line, format!("unexpected character {:?}", c as char))),
        }
    }
    Ok(out)
}

struct P {
    t: Vec<(Tok, usize)>,
    i: usize,
}

type Res<T> = Result<T, (usize, String)>;

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i).map(|(t, _)| t)
    }

    fn line(&self) -> usize {
        self.t.get(self.i).or(self.t.last()).map_or(1, |(_, l)| *l)
    }

    fn next(&mut self) -> Res<Tok> {
        let t = self
            .t
            .get(self.i)
            .map(|(t, _)| t.clone())
            .ok_or_else(|| (self.line(), "unexpected end of file".to_string()))?;
        self.i += 1;
        Ok(t)
    }

    fn punct(&mut self, c: char) -> Res<()> {
        match self.next()? {
            Tok::Punct(p) if p == c => Ok(()),
            t => Err((self.line(), format!("expected `{c}`, found {t:?}"))),
        }
    }

    fn is(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Punct(c))
    }

    fn ident(&mut self) -> Res<String> {
        match self.next()? {
            Tok::Ident(s) => Ok(s),
            t => Err((self.line(), format!("expected a name, found {t:?}"))),
        }
    }

    /// Skips one balanced group starting at an opening bracket.
    fn skip_group(&mut self) -> Res<()> {
        let mut stack: Vec<char> = Vec::new();
        loop {
            match self.next()? {
                Tok::Punct(c @ ('{' | '(' | '[' | '<')) => {
                    stack.push(c);
                    if stack.len() > MAX_NESTING {
                        return Err((self.line(), "nesting too deep".into()));
                    }
                }
                Tok::Punct(c @ ('}' | ')' | ']' | '>')) => {
                    stack.pop();
                    let _ = c;
                    if stack.is_empty() {
                        return Ok(());
                    }
                }
                _ if stack.is_empty() => return Ok(()),
                _ => {}
            }
        }
    }

    /// Skips an annotation list `( ... )` if one follows.
    fn annotations(&mut self) -> Res<()> {
        if self.is('(') {
            self.skip_group()?;
        }
        Ok(())
    }

    /// A field type: a name, or `map<..>`, `list<..>`, `set<..>`.
    fn field_type(&mut self) -> Res<()> {
        let name = self.ident()?;
        if matches!(name.as_str(), "map" | "list" | "set") {
            if self.is('[') {
                // cpp_type annotation of the old syntax.
                self.skip_group()?;
            }
            if self.is('<') {
                self.skip_group()?;
            }
        }
        self.annotations()
    }

    /// `( [id:] [required|optional] type name [= value] [annotations] [,;] ... )`
    fn fields(&mut self) -> Res<Vec<(i16, String)>> {
        self.punct('(')?;
        let mut out = Vec::new();
        let mut auto = 0i16;
        while !self.is(')') {
            let id = if let Some(Tok::Int(v)) = self.peek() {
                let v = *v;
                self.i += 1;
                self.punct(':')?;
                i16::try_from(v).map_err(|_| (self.line(), "field id out of range".to_string()))?
            } else {
                auto -= 1;
                auto
            };
            if let Some(Tok::Ident(q)) = self.peek() {
                if matches!(q.as_str(), "required" | "optional") {
                    self.i += 1;
                }
            }
            self.field_type()?;
            let name = self.ident()?;
            if self.is('=') {
                self.i += 1;
                match self.peek() {
                    Some(Tok::Punct('{' | '[')) => self.skip_group()?,
                    _ => {
                        self.next()?;
                    }
                }
            }
            self.annotations()?;
            if self.is(',') || self.is(';') {
                self.i += 1;
            }
            out.push((id, name));
        }
        self.punct(')')?;
        Ok(out)
    }

    fn service(&mut self, idl: &mut Idl) -> Res<()> {
        let service = self.ident()?;
        if let Some(Tok::Ident(e)) = self.peek() {
            if e == "extends" {
                self.i += 1;
                self.ident()?;
            }
        }
        self.punct('{')?;
        while !self.is('}') {
            if let Some(Tok::Ident(o)) = self.peek() {
                if o == "oneway" {
                    self.i += 1;
                }
            }
            self.field_type()?;
            let name = self.ident()?;
            let params = self.fields()?;
            let mut exceptions = Vec::new();
            if let Some(Tok::Ident(t)) = self.peek() {
                if t == "throws" {
                    self.i += 1;
                    exceptions = self.fields()?;
                }
            }
            self.annotations()?;
            if self.is(',') || self.is(';') {
                self.i += 1;
            }
            idl.functions.entry(name).or_insert(Function {
                service: service.clone(),
                params,
                exceptions,
            });
        }
        self.punct('}')?;
        self.annotations()
    }

    fn document(&mut self, idl: &mut Idl) -> Res<()> {
        while let Some(t) = self.peek().cloned() {
            match t {
                Tok::Ident(k) if k == "service" => {
                    self.i += 1;
                    self.service(idl)?;
                }
                Tok::Punct('{' | '(' | '[' | '<') => self.skip_group()?,
                _ => self.i += 1,
            }
        }
        Ok(())
    }
}

impl Idl {
    /// Parses IDL source text.
    pub fn parse(src: &str) -> Result<Idl, (usize, String)> {
        let mut p = P {
            t: tokens(src)?,
            i: 0,
        };
        let mut idl = Idl::default();
        p.document(&mut idl)?;
        Ok(idl)
    }

    /// Reads and parses every file, in order; the error names the file and line.
    pub fn load(files: &[PathBuf]) -> Result<Idl, String> {
        let mut all = Idl::default();
        for f in files {
            let one = read(f)?;
            for (k, v) in one.functions {
                all.functions.entry(k).or_insert(v);
            }
        }
        Ok(all)
    }

    /// The function named `method`.
    pub fn function(&self, method: &str) -> Option<&Function> {
        self.functions.get(method)
    }
}

fn read(f: &Path) -> Result<Idl, String> {
    let meta = std::fs::metadata(f).map_err(|e| format!("{}: {e}", f.display()))?;
    if meta.len() > MAX_FILE {
        return Err(format!("{}: larger than {MAX_FILE} bytes", f.display()));
    }
    let src = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
    Idl::parse(&src).map_err(|(line, m)| format!("{}:{line}: {m}", f.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"
        include "shared.thrift"
        namespace py tutorial   # a comment
        typedef i32 MyInteger
        const map<string,string> MAPCONSTANT = {'hello':'world', 'goodnight':"moon"}
        enum Operation { ADD = 1, DIVIDE = 4 }
        struct Work { 1: i32 num1 = 0, 2: i32 num2, 3: Operation op, 4: optional string comment }
        exception InvalidOperation { 1: i32 whatOp, 2: string why }
        /* block
           comment */
        service Calculator extends shared.SharedService {
           void ping(),
           i32 add(1:i32 num1, 2:i32 num2),
           i32 calculate(1:i32 logid, 2:Work w) throws (1:InvalidOperation ouch),
           map<string, list<i32>> echo_map(1: map<string, list<i32>> m) (annotated = "yes");
           oneway void zip()
        }
    "#;

    #[test]
    fn services_functions_params_and_exceptions_are_read() {
        let idl = Idl::parse(SRC).expect("parses");
        let add = idl.function("add").unwrap();
        assert_eq!(add.service, "Calculator");
        assert_eq!(add.param(1), Some("num1"));
        assert_eq!(add.param(2), Some("num2"));
        let calc = idl.function("calculate").unwrap();
        assert_eq!(calc.exception(1), Some("ouch"));
        assert_eq!(idl.function("echo_map").unwrap().param(1), Some("m"));
        assert!(idl.function("zip").unwrap().params.is_empty());
        assert_eq!(idl.functions.len(), 5);
    }

    #[test]
    fn bad_files_are_one_line_errors_with_a_line_number() {
        assert_eq!(Idl::parse("service S {\n void f(\n").unwrap_err().0, 2);
        assert!(Idl::parse("/* open").is_err());
        assert!(Idl::parse("service S { void f() @ }").is_err());
        let e = Idl::load(&[PathBuf::from("/nonexistent/x.thrift")]).unwrap_err();
        assert!(e.starts_with("/nonexistent/x.thrift: "), "{e}");
    }
}
