//! Operations tests: the systemd unit, the example config, the shell scripts
//! (tuning kit, capture makers) and `spanlens doctor` on real interfaces.
//!
//! Tests that need a tool (systemd-analyze, shellcheck, ethtool) or root
//! with `ip netns` print why they skip and pass.

mod common;

use common::{have, is_root};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_spanlens");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Every shell script in the repository: each `*.sh` in the folders that
/// hold them, and `.ci/run`. Found by listing, so a new script is checked
/// without being named here.
fn scripts() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for dir in ["tuning", "tests", "tests/data", "benches", "benches/lab"] {
        let found = std::fs::read_dir(repo().join(dir))
            .unwrap_or_else(|e| panic!("{dir}/ is readable: {e}"))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "sh"));
        v.extend(found);
    }
    v.push(repo().join(".ci/run"));
    v.sort();
    v
}

#[test]
fn every_script_passes_bash_n() {
    let all = scripts();
    assert!(
        all.len() >= 20,
        "expected the tuning and capture scripts, found {all:?}"
    );
    for s in &all {
        let o = Command::new("bash")
            .arg("-n")
            .arg(s)
            .output()
            .expect("bash");
        assert!(
            o.status.success(),
            "bash -n {}: {}",
            s.display(),
            text(&o).1
        );
    }
}

#[test]
fn every_script_passes_shellcheck() {
    if !have("shellcheck") {
        common::skip("shellcheck not installed");
        return;
    }
    for s in scripts() {
        let o = Command::new("shellcheck")
            .arg("-x")
            .arg(&s)
            .output()
            .expect("shellcheck");
        let (out, err) = text(&o);
        assert!(
            o.status.success(),
            "shellcheck {}:\n{out}{err}",
            s.display()
        );
    }
}

fn unit_text() -> String {
    std::fs::read_to_string(repo().join("systemd/spanlens.service")).expect("unit file")
}

/// The directive values of `key=` lines in the unit.
fn directive(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_string)
        .collect()
}

#[test]
fn systemd_unit_has_the_required_hardening() {
    let u = unit_text();
    let one = |k: &str| {
        let v = directive(&u, k);
        assert_eq!(v.len(), 1, "{k}= should appear once, got {v:?}");
        v[0].clone()
    };
    assert_eq!(one("User"), "spanlens");
    assert_eq!(one("AmbientCapabilities"), "CAP_NET_RAW CAP_NET_ADMIN");
    assert_eq!(one("CapabilityBoundingSet"), "CAP_NET_RAW CAP_NET_ADMIN");
    assert_eq!(one("NoNewPrivileges"), "yes");
    assert_eq!(one("ProtectSystem"), "strict");
    assert_eq!(one("ProtectHome"), "yes");
    assert_eq!(one("PrivateTmp"), "yes");
    assert_eq!(one("StateDirectory"), "spanlens");
    assert_eq!(one("Restart"), "on-failure");
    assert!(one("StartLimitBurst").parse::<u32>().is_ok());
    assert!(one("StartLimitIntervalSec").ends_with('0'));
    assert_eq!(one("LimitMEMLOCK"), "infinity");
    assert!(one("TimeoutStopSec").ends_with('s'));
    assert_eq!(one("ExecReload"), "/bin/kill -HUP $MAINPID");
    assert!(one("ExecStart").contains("live -c /etc/spanlens/spanlens.toml -i"));
    // The service user must be able to enter the root-owned config directory.
    let mode = u32::from_str_radix(&one("ConfigurationDirectoryMode"), 8).unwrap();
    assert_eq!(mode & 0o005, 0o005, "others need r-x on /etc/spanlens");
    // No default interface: an unset one stops the start with a clear line.
    assert!(directive(&u, "Environment")
        .iter()
        .all(|e| !e.starts_with("SPANLENS_INTERFACE")));
    assert!(directive(&u, "ExecStartPre")
        .iter()
        .any(|e| e.contains("SPANLENS_INTERFACE is not set")));
    // CPUAffinity is guidance only: present, commented out.
    assert!(directive(&u, "CPUAffinity").is_empty());
    assert!(u.lines().any(|l| l.starts_with("#CPUAffinity=")));
}

#[test]
fn systemd_unit_refuses_to_start_without_an_interface() {
    let u = unit_text();
    let pre = directive(&u, "ExecStartPre")
        .into_iter()
        .find(|e| e.contains("SPANLENS_INTERFACE"))
        .expect("an ExecStartPre checks SPANLENS_INTERFACE");
    let script = pre
        .strip_prefix("/bin/sh -c '")
        .and_then(|s| s.strip_suffix('\''))
        .expect("/bin/sh -c '...'");
    let unset = Command::new("/bin/sh")
        .args(["-c", script])
        .env_remove("SPANLENS_INTERFACE")
        .output()
        .unwrap();
    assert!(!unset.status.success());
    let (_, err) = text(&unset);
    assert!(
        err.contains("SPANLENS_INTERFACE is not set") && err.contains("/etc/default/spanlens"),
        "{err}"
    );
    let set = Command::new("/bin/sh")
        .args(["-c", script])
        .env("SPANLENS_INTERFACE", "eth1")
        .status()
        .unwrap();
    assert!(set.success());
    // And spanlens itself names the problem when handed an empty one.
    let o = Command::new(BIN).args(["live", "-i", ""]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let (_, err) = text(&o);
    assert!(err.contains("no capture interface"), "{err}");
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    if !have("systemd-analyze") {
        common::skip("systemd-analyze not installed (no systemd on this host)");
        return;
    }
    // verify insists that ExecStart exists: point it at the test build.
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = dir.path().join("spanlens.service");
    std::fs::write(&unit, unit_text().replace("/usr/local/bin/spanlens", BIN)).expect("write");
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze");
    let (out, err) = text(&o);
    if err.contains("Failed to initialize manager") || err.contains("System has not been booted") {
        common::skip(&format!("systemd-analyze cannot run here: {err}"));
        return;
    }
    assert!(o.status.success(), "verify failed:\n{out}{err}");
    assert!(
        !err.contains("spanlens.service:"),
        "verify complained:\n{err}"
    );
}

fn check_config(path: &Path) -> Output {
    Command::new(BIN)
        .arg("check-config")
        .arg(path)
        .output()
        .expect("run spanlens")
}

#[test]
fn example_config_is_valid_as_shipped_and_with_elasticsearch() {
    let example = repo().join("examples/spanlens.toml");
    let o = check_config(&example);
    let (out, err) = text(&o);
    assert!(o.status.success(), "check-config failed: {err}");
    assert!(out.contains("workers = 4"), "{out}");
    assert!(out.contains("loadbalancers"), "{out}");
    assert!(out.contains("metrics = \"127.0.0.1:9108\""), "{out}");

    // The commented Elasticsearch block, switched on as the comment says.
    let src = std::fs::read_to_string(&example).expect("read");
    let mut in_block = false;
    let mut es = String::new();
    for line in src.lines() {
        if line == "#[output.elasticsearch]" {
            in_block = true;
        }
        if line.starts_with("path = ") {
            es.push_str("path = \"elasticsearch\"\n");
        } else if in_block {
            es.push_str(line.strip_prefix('#').unwrap_or(line));
            es.push('\n');
        } else {
            es.push_str(line);
            es.push('\n');
        }
    }
    assert!(
        in_block,
        "example has no commented [output.elasticsearch] block"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let es_path = dir.path().join("es.toml");
    std::fs::write(&es_path, &es).expect("write");
    let o = check_config(&es_path);
    let (out, err) = text(&o);
    assert!(o.status.success(), "ES variant failed: {err}\n{es}");
    assert!(out.contains("[output.elasticsearch]"), "{out}");
    // The spool must live in the unit's StateDirectory, the only writable
    // place besides the logs directory.
    assert!(out.contains("spool_dir = \"/var/lib/spanlens/"), "{out}");
    assert!(out.contains("dead_letter = \"/var/lib/spanlens/"), "{out}");
}

#[test]
fn doctor_reads_loopback() {
    let o = Command::new(BIN)
        .args(["doctor", "-i", "lo"])
        .output()
        .expect("run");
    let (out, err) = text(&o);
    assert!(o.status.success(), "doctor -i lo failed: {err}");
    assert!(out.contains("spanlens doctor: lo (read-only"), "{out}");
    let mtu = std::fs::read_to_string("/sys/class/net/lo/mtu").expect("lo mtu");
    assert!(
        out.contains(&format!("mtu:           {}", mtu.trim())),
        "{out}"
    );
    // Loopback has no link speed: said, not guessed.
    assert!(out.contains("Could not read"), "{out}");
    assert!(out.contains("link speed"), "{out}");

    let mut sink = Vec::new();
    let r = spanlens::doctor::run("lo", &mut sink).expect("lib run");
    assert_eq!(r.mtu.map(|m| m.to_string()), Some(mtu.trim().to_string()));
    assert_eq!(r.driver.as_deref(), Some("virtual"));
    // Online CPUs are at least the CPUs this process may use.
    let usable = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(r.cores.expect("cpu count") >= usable, "{:?}", r.cores);
}

#[test]
fn doctor_unknown_interface_names_it_and_lists_the_others() {
    let o = Command::new(BIN)
        .args(["doctor", "-i", "nosuch0"])
        .output()
        .expect("run");
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("\"nosuch0\""), "{err}");
    assert!(err.contains("lo"), "{err}");
}

/// A veth pair in two fresh network namespaces, removed on drop.
struct VethPair {
    ns: [String; 2],
    dev: [String; 2],
}

impl VethPair {
    fn new(tag: &str) -> Option<VethPair> {
        if !is_root() || !have("ip") {
            common::skip("needs root and iproute2 (ip netns)");
            return None;
        }
        let id = std::process::id() % 100_000;
        let p = VethPair {
            ns: [format!("slops{id}{tag}a"), format!("slops{id}{tag}b")],
            dev: [format!("so{id}{tag}a"), format!("so{id}{tag}b")],
        };
        let ok = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        };
        if !ok(&["netns", "add", &p.ns[0]]) || !ok(&["netns", "add", &p.ns[1]]) {
            common::skip("ip netns add failed (no network namespace support?)");
            return None;
        }
        let made = ok(&[
            "link", "add", &p.dev[0], "netns", &p.ns[0], "type", "veth", "peer", "name", &p.dev[1],
            "netns", &p.ns[1],
        ]) && ok(&["-n", &p.ns[0], "link", "set", &p.dev[0], "up"])
            && ok(&["-n", &p.ns[1], "link", "set", &p.dev[1], "up"]);
        assert!(made, "could not create the veth pair");
        Some(p)
    }

    /// Runs a command inside the first namespace.
    fn exec(&self, cmd: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns[0], cmd])
            .args(args)
            .output()
            .expect("ip netns exec")
    }

    fn gro_on(&self) -> bool {
        let (out, _) = text(&self.exec("ethtool", &["-k", &self.dev[0]]));
        out.lines()
            .any(|l| l.starts_with("generic-receive-offload: on"))
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        for ns in &self.ns {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

#[test]
fn doctor_on_a_veth_says_what_it_cannot_read() {
    let Some(pair) = VethPair::new("d") else {
        return;
    };
    let o = pair.exec(BIN, &["doctor", "-i", &pair.dev[0]]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "doctor failed: {err}");
    assert!(out.contains("mtu:           1500"), "{out}");
    assert!(out.contains("driver:        virtual"), "{out}");
    // A veth has no ring settings (and, without ethtool, no offloads).
    assert!(out.contains("rings:         ?"), "{out}");
    assert!(out.contains("  ring sizes: "), "{out}");
    if have("ethtool") {
        assert!(out.contains("offloads:      gro"), "{out}");
    } else {
        assert!(out.contains("offloads: ethtool is not installed"), "{out}");
    }
}

#[test]
fn nic_sh_changes_nothing_without_apply_and_turns_offloads_off_with_it() {
    if !have("ethtool") {
        common::skip("ethtool not installed");
        return;
    }
    let Some(pair) = VethPair::new("n") else {
        return;
    };
    let script = repo().join("tuning/nic.sh");
    let script = script.to_str().expect("utf8 path");
    let dev = pair.dev[0].as_str();
    // Make sure there is something to change.
    let _ = pair.exec("ethtool", &["-K", dev, "gro", "on"]);
    assert!(pair.gro_on(), "could not turn GRO on for the test");

    let o = pair.exec("bash", &[script, dev]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "dry run failed: {err}");
    assert!(out.contains("would: offloads off"), "{out}");
    assert!(out.contains("would: promiscuous mode on"), "{out}");
    assert!(out.contains("ring sizes cannot be read or set"), "{out}");
    assert!(pair.gro_on(), "dry run changed GRO");

    let o = pair.exec("bash", &[script, dev, "--apply"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "apply failed: {out}{err}");
    assert!(!pair.gro_on(), "--apply left GRO on:\n{out}");
    let flags = pair.exec("cat", &[&format!("/sys/class/net/{dev}/flags")]);
    let flags =
        u32::from_str_radix(text(&flags).0.trim().trim_start_matches("0x"), 16).expect("hex flags");
    assert_ne!(flags & 0x100, 0, "--apply left promiscuous mode off");

    // doctor now agrees.
    let (out, _) = text(&pair.exec(BIN, &["doctor", "-i", dev]));
    assert!(out.contains("[ok] offloads"), "{out}");
    assert!(out.contains("[ok] promiscuous"), "{out}");
}

#[test]
fn tuning_scripts_without_apply_change_nothing() {
    let before = std::fs::read_to_string("/proc/sys/net/core/netdev_max_backlog").ok();
    let o = Command::new("bash")
        .arg(repo().join("tuning/sysctl.sh"))
        .output()
        .expect("bash");
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("dry run"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("would: ") || l.starts_with("ok: ")),
        "{out}"
    );
    let after = std::fs::read_to_string("/proc/sys/net/core/netdev_max_backlog").ok();
    assert_eq!(before, after);

    let o = Command::new("bash")
        .arg(repo().join("tuning/cpu-plan.sh"))
        .output()
        .expect("bash");
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(text(&o).0.contains("CPUs online"), "{}", text(&o).0);

    let o = Command::new("bash")
        .arg(repo().join("tuning/nic.sh"))
        .arg("nosuch0")
        .output()
        .expect("bash");
    assert!(!o.status.success());
    assert!(
        text(&o).1.contains("no interface nosuch0"),
        "{}",
        text(&o).1
    );
}

/// The cells of the markdown rows of `out` whose first cell is `name`.
fn table_rows(out: &str, name: &str) -> Vec<Vec<String>> {
    out.lines()
        .filter(|l| l.starts_with(&format!("| {name} |")))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

fn number(cell: &str) -> f64 {
    let digits: String = cell
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',' || *c == '.')
        .filter(|c| *c != ',')
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {cell:?}"))
}

/// benches/lab/cost.sh end to end on a fixture: its thread split still
/// finds the capture thread and the worker by their function names, and
/// its tables carry the counts of the run.
#[test]
fn cost_script_counts_and_splits_threads_on_a_fixture() {
    if !have("valgrind") || !have("tcpdump") {
        common::skip("valgrind or tcpdump not installed");
        return;
    }
    let cap = repo().join("tests/data/mysqlslap.pcap");
    let o = Command::new(repo().join("benches/lab/cost.sh"))
        .args(["--bin", BIN, "--runs", "0", "--workers", "1"])
        .arg(&cap)
        .output()
        .expect("cost.sh");
    let (out, err) = text(&o);
    assert!(o.status.success(), "cost.sh failed:\n{out}{err}");
    let rows = table_rows(&out, "mysqlslap");
    assert_eq!(rows.len(), 3, "target 1, split and projection rows:\n{out}");
    // Target 1: packets, transactions, floor, spanlens, x floor, net, per transaction.
    let t1 = &rows[0];
    let stats = std::env::temp_dir().join(format!("spanlens-ops-cost-{}.json", std::process::id()));
    let st = Command::new(BIN)
        .args([
            "replay",
            "-q",
            "--no-progress",
            "-w",
            "1",
            "-o",
            "/dev/null",
            "--stats-json",
        ])
        .arg(&stats)
        .arg(&cap)
        .status()
        .expect("spanlens");
    assert!(st.success());
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&stats).expect("stats")).expect("stats json");
    let _ = std::fs::remove_file(&stats);
    let flows = s["events"]["flow"].as_u64().unwrap_or(0);
    let events = s["output"]["events_written"]
        .as_u64()
        .expect("events_written");
    assert_eq!(
        number(&t1[1]) as u64,
        s["capture"]["packets"].as_u64().unwrap()
    );
    assert_eq!(
        number(&t1[2]) as u64,
        events - flows,
        "transactions: every event but flows"
    );
    // Floor and spanlens were counted, and the ratio is theirs (on a
    // 144-packet fixture start-up dominates both, so either may be larger).
    let (floor, ours, ratio) = (number(&t1[3]), number(&t1[4]), number(&t1[5]));
    assert!(floor > 0.0 && ours > 0.0, "{t1:?}");
    assert!(
        (ratio - ours / floor).abs() <= 0.05 * ratio.max(0.1),
        "x floor is spanlens / floor: {t1:?}"
    );
    // Split: the capture thread and the worker were found (not zero).
    let split = &rows[1];
    assert_eq!(split[1], "1");
    assert!(
        number(&split[2]) > 0.0,
        "capture thread per packet: {split:?}"
    );
    assert!(number(&split[3]) > 0.0, "floor per packet: {split:?}");
    assert!(number(&split[5]) > 0.0, "worker per transaction: {split:?}");
    assert!(split[5].ends_with("(100%)"), "{split:?}");
}

#[test]
fn cost_script_refuses_bad_options_in_one_line() {
    let o = Command::new(repo().join("benches/lab/cost.sh"))
        .args(["--runs", "many"])
        .output()
        .expect("cost.sh");
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert_eq!(err.trim(), "cost.sh: --runs needs a number, got 'many'");
}
