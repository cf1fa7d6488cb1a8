//! Decapsulation in the capture thread: remote mirrors (ERSPAN, GRE),
//! cloud and overlay tunnels (VXLAN, GENEVE, GRE-in-UDP, IP-in-IP, 6in4,
//! 4in6, Teredo), carrier links (MPLS, PPPoE) and data-centre tags (NSH,
//! VN-Tag, E-Tag, FabricPath, 802.1ad), plus the hook into IP fragment
//! reassembly ([`crate::defrag`]).
//!
//! [`Decoder::decode`] turns one captured frame into the [`Decoded`]
//! headers of the innermost packet: filters, flows and sessions see inner
//! addresses and ports; [`Decoder::tunnel`] says where the packet came
//! from (outermost tunnel type and endpoints, the first tunnel id found,
//! the depth). Plain frames take the etherparse fast path
//! ([`crate::dispatch::decode`]) and pay one port check when they are UDP;
//! VXLAN frames whose inner packet is plain take the same fast path
//! twice. Everything else is walked layer by layer here, each family in
//! its own file ([`l2`], [`gre`], [`udp`]); a packet with no tunnel at all
//! is then decoded exactly as before (the lax path).
//!
//! Bad encapsulation headers are counted by reason ([`Bad`], counters
//! `decode.<reason>`) and the packet is skipped; nesting deeper than
//! `decap.max_depth` is counted as `decode.too_many_layers`. Nothing here
//! indexes a slice without a bound check first: the fuzz target
//! `fuzz/fuzz_targets/capture_decode.rs` and the bounded random-input test
//! below drive it with arbitrary bytes.

pub mod gre;
pub mod l2;
pub mod udp;

use crate::defrag::{Defrag, DefragConfig, Outcome};
use crate::dispatch::decode::{self, linktype, Decoded, Undecodable};
use crate::stats::Counters;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// `[decap]`: which encapsulations are decoded, and how tunnels are keyed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecapConfig {
    /// MPLS label stacks (0x8847, 0x8848), IP and Ethernet pseudowire payloads.
    pub mpls: bool,
    /// PPPoE sessions (0x8864).
    pub pppoe: bool,
    /// GRE (IP protocol 47): IPv4, IPv6, Ethernet (0x6558), PPP, MPLS payloads.
    pub gre: bool,
    /// ERSPAN types I, II (GRE 0x88BE) and III (0x22EB).
    pub erspan: bool,
    /// VXLAN.
    pub vxlan: bool,
    /// UDP destination ports decoded as VXLAN.
    pub vxlan_ports: Vec<u16>,
    /// GENEVE.
    pub geneve: bool,
    /// UDP destination ports decoded as GENEVE.
    pub geneve_ports: Vec<u16>,
    /// GRE-in-UDP (RFC 8086).
    pub gre_udp: bool,
    /// UDP destination ports decoded as GRE-in-UDP.
    pub gre_udp_ports: Vec<u16>,
    /// IPv4-in-IPv4, IPv6-in-IPv4 (6in4), IPv4-in-IPv6, IPv6-in-IPv6.
    pub ipip: bool,
    /// Teredo: IPv6 in UDP, recognised by its content on any port (an
    /// IPv6 header filling the datagram with a 2001:0::/32 address).
    pub teredo: bool,
    /// NSH service headers (0x894F).
    pub nsh: bool,
    /// VN-Tag (0x8926).
    pub vntag: bool,
    /// 802.1BR E-Tag (0x893F).
    pub etag: bool,
    /// Cisco FabricPath (0x8903).
    pub fabricpath: bool,
    /// Encapsulation layers decoded in one packet; deeper packets are
    /// counted (`decode.too_many_layers`) and skipped.
    pub max_depth: u8,
    /// Put the tunnel id (VNI, ERSPAN session id, GRE key) in the flow key,
    /// so that two tenants' overlapping addresses never share a flow.
    pub tunnel_id_in_flow_key: bool,
    /// Also report each tunnel's outer packets as flows of their own (the
    /// UDP flow to port 4789, the GRE flow, ...).
    pub outer_flows: bool,
}

impl Default for DecapConfig {
    fn default() -> Self {
        DecapConfig {
            mpls: true,
            pppoe: true,
            gre: true,
            erspan: true,
            vxlan: true,
            vxlan_ports: vec![4789],
            geneve: true,
            geneve_ports: vec![6081],
            gre_udp: true,
            gre_udp_ports: vec![4754],
            ipip: true,
            teredo: true,
            nsh: true,
            vntag: true,
            etag: true,
            fabricpath: true,
            max_depth: 8,
            tunnel_id_in_flow_key: true,
            outer_flows: false,
        }
    }
}

/// Most UDP tunnel ports configured at once.
const MAX_PORTS: usize = 16;

impl DecapConfig {
    /// Checks the values; the error is `(key, message)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if !(1..=32).contains(&self.max_depth) {
            return Err(("decap.max_depth".into(), "must be between 1 and 32".into()));
        }
        let mut all = Vec::new();
        for (key, ports) in [
            ("vxlan_ports", &self.vxlan_ports),
            ("geneve_ports", &self.geneve_ports),
            ("gre_udp_ports", &self.gre_udp_ports),
        ] {
            for &p in ports {
                if p == 0 {
                    return Err((format!("decap.{key}"), "port 0 is not a port".into()));
                }
                if all.contains(&p) {
                    return Err((
                        format!("decap.{key}"),
                        format!("port {p} is given to two encapsulations; keep it in one list"),
                    ));
                }
                all.push(p);
            }
        }
        if all.len() > MAX_PORTS {
            return Err((
                "decap".into(),
                format!("at most {MAX_PORTS} UDP tunnel ports in all"),
            ));
        }
        Ok(())
    }
}

pub use crate::dispatch::decode::Bad;
pub use crate::flow::tunnel::{Erspan, Kind, Tunnel, MAX_LAYERS_NAMED};

/// What [`Decoder::decode_fast`] made of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fast {
    /// A plain frame, decoded.
    Plain,
    /// VXLAN around a plain frame, decoded: the inner Ethernet frame
    /// starts at `inner`.
    Vxlan {
        /// Offset of the inner Ethernet frame.
        inner: usize,
        /// The VNI.
        vni: u32,
    },
    /// Neither: [`Decoder::decode_slow`] decodes it.
    Slow,
}

/// Where the walk goes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// An Ethernet header at this offset.
    Ether(usize),
    /// A payload of this ether type at this offset.
    EtherType(u16, usize),
    /// An IPv4 or IPv6 header at this offset.
    Ip(usize),
    /// Something that is not IP (ARP, CDP, PPP control, ...).
    NotIp,
}

#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The capture thread's decoder: configuration, per-encapsulation
/// counts, fragment reassembly, and what it learnt about the last packet.
pub struct Decoder {
    cfg: DecapConfig,
    ports: [u16; MAX_PORTS],
    port_kinds: [Kind; MAX_PORTS],
    nports: usize,
    counts: [u64; Kind::ALL.len()],
    defrag: Defrag,
    /// The last packet's tunnel (valid when `tunnelled`).
    tunnel: Tunnel,
    /// Whether the last packet came through a tunnel.
    tunnelled: bool,
    /// `tunnel` holds the VXLAN fast path's constant fields (kind, layers,
    /// depth 1, no ERSPAN), so the next fast-path packet writes only its
    /// VNI and outer addresses.
    vxlan_template: bool,
    /// The last packet's outermost IP-level tunnel packet, for `outer_flows`.
    outer: Option<Decoded>,
    /// The reassembled packet the last [`Decoded`] points into, if any.
    reasm: Vec<u8>,
    in_reasm: bool,
    reasm_wire: u64,
}

impl Decoder {
    /// A decoder with these settings.
    pub fn new(cfg: &DecapConfig, defrag: &DefragConfig) -> Self {
        let mut d = Decoder {
            cfg: cfg.clone(),
            ports: [0; MAX_PORTS],
            port_kinds: [Kind::Vxlan; MAX_PORTS],
            nports: 0,
            counts: [0; Kind::ALL.len()],
            defrag: Defrag::new(defrag),
            tunnel: Tunnel::default(),
            tunnelled: false,
            vxlan_template: false,
            outer: None,
            reasm: Vec::new(),
            in_reasm: false,
            reasm_wire: 0,
        };
        for (on, ports, kind) in [
            (cfg.vxlan, &cfg.vxlan_ports, Kind::Vxlan),
            (cfg.geneve, &cfg.geneve_ports, Kind::Geneve),
            (cfg.gre_udp, &cfg.gre_udp_ports, Kind::GreUdp),
        ] {
            for &p in ports.iter().filter(|_| on) {
                if d.nports < MAX_PORTS {
                    d.ports[d.nports] = p;
                    d.port_kinds[d.nports] = kind;
                    d.nports += 1;
                }
            }
        }
        d
    }

    /// Defaults: every encapsulation, reassembly on.
    pub fn with_defaults() -> Self {
        Decoder::new(&DecapConfig::default(), &DefragConfig::default())
    }

    /// The settings.
    pub fn config(&self) -> &DecapConfig {
        &self.cfg
    }

    /// Where the last decoded packet came from, when it was tunnelled.
    #[inline]
    pub fn tunnel(&self) -> Option<&Tunnel> {
        self.tunnelled.then_some(&self.tunnel)
    }

    /// The last packet's outermost tunnel packet (only with `outer_flows`).
    pub fn outer(&self) -> Option<&Decoded> {
        self.outer.as_ref()
    }

    /// The captured payload of the last decoded packet: in `frame`, or in
    /// the datagram rebuilt from fragments.
    #[inline]
    pub fn payload<'a>(&'a self, frame: &'a [u8], d: &Decoded) -> &'a [u8] {
        let buf = if self.in_reasm {
            &self.reasm[..]
        } else {
            frame
        };
        buf.get(d.payload_off..d.payload_off + d.payload_len)
            .unwrap_or(&[])
    }

    /// The wire length to count for the last packet: the frame's, or for a
    /// datagram rebuilt from fragments the sum of all its fragments'.
    #[inline]
    pub fn wire_len(&self, frame_wire_len: u32) -> u32 {
        if self.in_reasm {
            u32::try_from(self.reasm_wire).unwrap_or(u32::MAX)
        } else {
            frame_wire_len
        }
    }

    /// Gives up fragments older than the reassembly timeout.
    pub fn expire(&mut self, now: Timestamp) {
        self.defrag.expire(now);
    }

    /// Writes the `decap.*` and `defrag.*` counters (totals so far).
    pub fn fold(&self, c: &mut Counters) {
        for (k, n) in Kind::ALL.iter().zip(self.counts) {
            if n > 0 {
                c.set(k.counter(), n);
            }
        }
        self.defrag.fold(c);
    }

    #[inline]
    fn udp_kind(&self, dport: u16) -> Option<Kind> {
        self.ports[..self.nports]
            .iter()
            .position(|&p| p == dport)
            .map(|i| self.port_kinds[i])
    }

    /// Whether a plain UDP datagram needs a second look (a tunnel port, or
    /// what may be Teredo).
    #[inline]
    fn udp_interest(&self, d: &Decoded, base: &[u8]) -> bool {
        self.udp_kind(d.dport).is_some() || self.maybe_teredo(d, base)
    }

    /// Whether a UDP datagram on no tunnel port may be Teredo.
    #[inline(always)]
    fn maybe_teredo(&self, d: &Decoded, base: &[u8]) -> bool {
        self.cfg.teredo
            && d.payload_len >= 40
            && base.get(d.payload_off).is_some_and(|b| b >> 4 == 6)
    }

    /// Decodes one frame of link type `lt` captured at `ts` (`wire_len`
    /// bytes on the wire): the innermost packet's headers. A fragment that
    /// completes a datagram gives the whole datagram; one that does not is
    /// [`Undecodable::FragmentHeld`].
    #[inline]
    pub fn decode(
        &mut self,
        lt: i32,
        ts: Timestamp,
        wire_len: u32,
        frame: &[u8],
    ) -> Result<Decoded, Undecodable> {
        let mut d = Decoded::NONE;
        self.decode_into(lt, ts, wire_len, frame, &mut d)?;
        Ok(d)
    }

    /// [`Decoder::decode`] into `out` (written whole on `Ok`), so that the
    /// headers are written once where the caller keeps them.
    #[inline]
    pub fn decode_into(
        &mut self,
        lt: i32,
        ts: Timestamp,
        wire_len: u32,
        frame: &[u8],
        out: &mut Decoded,
    ) -> Result<(), Undecodable> {
        if let Fast::Slow = self.decode_fast(lt, frame, out) {
            *out = self.walk(lt, ts, wire_len, frame)?;
        }
        Ok(())
    }

    /// The fast path alone: a plain frame, or VXLAN around a plain frame,
    /// decoded into `out`. [`Fast::Slow`]: anything else, for
    /// [`Decoder::decode_slow`] (the capture thread looks for duplicates in
    /// between, so that a copy never reaches fragment reassembly).
    #[inline]
    pub fn decode_fast(&mut self, lt: i32, frame: &[u8], out: &mut Decoded) -> Fast {
        self.tunnelled = false;
        self.in_reasm = false;
        self.outer = None;
        if decode::decode_into(lt, frame, frame, out) {
            if out.proto != 17 {
                return Fast::Plain;
            }
            match self.udp_kind(out.dport) {
                None if !self.maybe_teredo(out, frame) => return Fast::Plain,
                Some(Kind::Vxlan) => {
                    if let Some(f) = self.vxlan_fast(frame, out) {
                        return f;
                    }
                }
                _ => {}
            }
        }
        Fast::Slow
    }

    /// Everything the fast path leaves ([`Fast::Slow`]).
    pub fn decode_slow(
        &mut self,
        lt: i32,
        ts: Timestamp,
        wire_len: u32,
        frame: &[u8],
    ) -> Result<Decoded, Undecodable> {
        self.walk(lt, ts, wire_len, frame)
    }

    /// The last packet, a [`Fast::Vxlan`] one, was a duplicate: it is not
    /// counted as a VXLAN packet (duplicates are dropped before decoding).
    #[cold]
    pub fn uncount_vxlan(&mut self) {
        self.counts[Kind::Vxlan as usize] -= 1;
    }

    /// VXLAN around a plain inner frame (`out`: the outer UDP datagram to
    /// a VXLAN port): the fast path again on the inner frame, written over
    /// `out`, and the tunnel recorded. `false` (the walk decides) when the
    /// VXLAN header is bad or the inner frame is not plain; `out` may then
    /// hold the inner headers.
    #[inline(always)]
    fn vxlan_fast(&mut self, frame: &[u8], out: &mut Decoded) -> Option<Fast> {
        let end = out.payload_off + out.payload_len;
        let Ok((Next::Ether(at), vni)) = udp::vxlan(frame, out.payload_off, end) else {
            return None;
        };
        let inner = frame.get(at..end)?;
        let (src, dst) = (out.src, out.dst);
        if self.cfg.outer_flows {
            // Copied only when asked for: an `Option<Decoded>` moved on
            // every packet costs about 40 instructions.
            self.outer = Some(Decoded {
                payload_len: 0,
                payload_wire_len: 0,
                ..*out
            });
        }
        if !decode::decode_into(linktype::ETHERNET, frame, inner, out)
            || (out.proto == 17 && self.udp_interest(out, frame))
        {
            self.outer = None;
            return None;
        }
        if !self.vxlan_template {
            let mut layers = [Kind::default(); MAX_LAYERS_NAMED];
            layers[0] = Kind::Vxlan;
            self.tunnel = Tunnel {
                kind: Kind::Vxlan,
                layers,
                depth: 1,
                erspan: None,
                ..Tunnel::default()
            };
            self.vxlan_template = true;
        }
        self.tunnel.id = Some(vni);
        self.tunnel.tenant = vni;
        self.tunnel.src = Some(src);
        self.tunnel.dst = Some(dst);
        self.tunnelled = true;
        self.counts[Kind::Vxlan as usize] += 1;
        Some(Fast::Vxlan { inner: at, vni })
    }

    /// Records one more layer.
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        kind: Kind,
        id: Option<u32>,
        tenant: bool,
        outer: Option<Decoded>,
        vlan: &mut [u16; 2],
        ntags: &mut usize,
    ) -> Result<(), Bad> {
        if self.tunnel.depth == 0 {
            self.tunnel = Tunnel::default();
            self.tunnel.kind = kind;
        }
        if self.tunnel.depth >= self.cfg.max_depth {
            return Err(Bad::TooManyLayers);
        }
        if let Some(slot) = self.tunnel.layers.get_mut(usize::from(self.tunnel.depth)) {
            *slot = kind;
        }
        self.tunnel.depth += 1;
        self.counts[kind as usize] += 1;
        if self.tunnel.id.is_none() {
            self.tunnel.id = id;
            if tenant {
                self.tunnel.tenant = id.unwrap_or(0);
            }
        }
        if let Some(o) = outer {
            if self.tunnel.src.is_none() {
                self.tunnel.src = Some(o.src);
                self.tunnel.dst = Some(o.dst);
                if self.cfg.outer_flows {
                    self.outer = Some(o);
                }
            }
        }
        if kind.has_outer_ip() {
            *vlan = [0, 0];
            *ntags = 0;
        }
        Ok(())
    }

    /// The layer-by-layer walk: everything the fast path does not take.
    #[inline(never)]
    fn walk(
        &mut self,
        lt: i32,
        ts: Timestamp,
        wire_len: u32,
        frame: &[u8],
    ) -> Result<Decoded, Undecodable> {
        self.tunnel.depth = 0;
        self.vxlan_template = false;
        self.outer = None;
        let r = self.walk_result(lt, ts, wire_len, frame);
        self.tunnelled = self.tunnel.depth > 0;
        r
    }

    fn walk_result(
        &mut self,
        lt: i32,
        ts: Timestamp,
        wire_len: u32,
        frame: &[u8],
    ) -> Result<Decoded, Undecodable> {
        match self.walk_inner(lt, ts, wire_len, frame) {
            Ok(Some(d)) => Ok(d),
            // Nothing peeled: exactly what the lax path said before.
            Ok(None) => {
                self.tunnel.depth = 0;
                self.outer = None;
                decode::decode_lax(lt, frame)
            }
            Err(Undecodable::Truncated | Undecodable::NotIp | Undecodable::TruncatedTransport)
                if self.tunnel.depth == 0 && !self.in_reasm =>
            {
                self.outer = None;
                decode::decode_lax(lt, frame)
            }
            Err(e) => Err(e),
        }
    }

    /// `Ok(None)`: a plain frame with no layer peeled (the caller decodes
    /// it with the lax path).
    fn walk_inner(
        &mut self,
        lt: i32,
        ts: Timestamp,
        wire_len: u32,
        frame: &[u8],
    ) -> Result<Option<Decoded>, Undecodable> {
        use linktype::*;
        let mut owned: Option<Vec<u8>> = None;
        let mut end = frame.len();
        let mut vlan = [0u16; 2];
        let mut ntags = 0usize;
        let need = |n: usize| {
            if frame.len() < n {
                Err(Undecodable::Truncated)
            } else {
                Ok(())
            }
        };
        let mut next = match lt {
            ETHERNET => Next::Ether(0),
            LINUX_SLL => {
                need(16)?;
                Next::EtherType(be16(frame, 14), 16)
            }
            LINUX_SLL2 => {
                need(20)?;
                Next::EtherType(be16(frame, 0), 20)
            }
            NULL | LOOP => {
                need(4)?;
                Next::Ip(4)
            }
            _ => Next::Ip(0),
        };
        let result = loop {
            let b: &[u8] = owned.as_deref().unwrap_or(frame);
            let cfg = &self.cfg;
            next = match next {
                Next::NotIp => break Err(Undecodable::NotIp),
                Next::Ether(off) => {
                    if off + 14 > end {
                        break Err(Undecodable::Truncated);
                    }
                    let et = be16(b, off + 12);
                    if et == 0x8903 && cfg.fabricpath {
                        let n = l2::fabricpath(off, end)?;
                        self.push(Kind::Fabricpath, None, false, None, &mut vlan, &mut ntags)?;
                        n
                    } else {
                        Next::EtherType(et, off + 14)
                    }
                }
                Next::EtherType(et, off) => match et {
                    0x8100 | 0x88a8 | 0x9100 => {
                        if off + 4 > end {
                            break Err(Undecodable::Truncated);
                        }
                        let id = be16(b, off) & 0x0fff;
                        if ntags < 2 && (ntags == 0 || vlan[ntags - 1] != id) {
                            vlan[ntags] = id;
                            ntags += 1;
                        }
                        Next::EtherType(be16(b, off + 2), off + 4)
                    }
                    0x0800 | 0x86dd => Next::Ip(off),
                    0x8847 | 0x8848 if cfg.mpls => {
                        let n = l2::mpls(b, off, end)?;
                        self.push(Kind::Mpls, None, false, None, &mut vlan, &mut ntags)?;
                        n
                    }
                    0x8864 if cfg.pppoe => {
                        let (n, session, e) = l2::pppoe(b, off, end)?;
                        self.push(
                            Kind::Pppoe,
                            Some(session.into()),
                            false,
                            None,
                            &mut vlan,
                            &mut ntags,
                        )?;
                        end = e;
                        n
                    }
                    0x894f if cfg.nsh => {
                        let n = l2::nsh(b, off, end)?;
                        self.push(Kind::Nsh, None, false, None, &mut vlan, &mut ntags)?;
                        n
                    }
                    0x8926 if cfg.vntag => {
                        let n = l2::vntag(b, off, end)?;
                        self.push(Kind::Vntag, None, false, None, &mut vlan, &mut ntags)?;
                        n
                    }
                    0x893f if cfg.etag => {
                        let n = l2::etag(b, off, end)?;
                        self.push(Kind::Etag, None, false, None, &mut vlan, &mut ntags)?;
                        n
                    }
                    _ => Next::NotIp,
                },
                Next::Ip(off) => {
                    let ip = match ip_header(b, off, end) {
                        Ok(ip) => ip,
                        // Not even an IP header at the top: the lax path decides.
                        Err(_) if self.tunnel.depth == 0 && owned.is_none() => break Ok(None),
                        Err(e) => break Err(e),
                    };
                    if let Some(frag) = ip.frag {
                        if !self.defrag.enabled() {
                            break Err(Undecodable::Fragment);
                        }
                        let tenant = if self.tunnel.depth > 0 {
                            self.tunnel.tenant
                        } else {
                            0
                        };
                        let outcome = if ip.v4 {
                            self.defrag.ipv4(
                                ts,
                                wire_len,
                                &b[off..ip.l4],
                                &b[ip.l4..ip.end],
                                tenant,
                            )
                        } else {
                            self.defrag.ipv6(
                                ts,
                                wire_len,
                                &b[off..off + 40],
                                &b[frag..frag + 8],
                                &b[ip.l4..ip.end],
                                tenant,
                            )
                        };
                        match outcome {
                            Outcome::Held => break Err(Undecodable::FragmentHeld),
                            Outcome::Complete(pkt, wire) => {
                                if let Some(old) = owned.take() {
                                    self.defrag.recycle(old);
                                }
                                self.reasm_wire = wire;
                                end = pkt.len();
                                owned = Some(pkt);
                                self.in_reasm = true;
                                Next::Ip(0)
                            }
                        }
                    } else {
                        match self.tunnel_in_ip(b, &ip, &mut vlan, &mut ntags)? {
                            Some(n) => {
                                end = ip.end;
                                n
                            }
                            None if self.tunnel.depth == 0 && owned.is_none() => {
                                break Ok(None);
                            }
                            None => {
                                let d = finish_ip(b, off, ip.end, vlan)?;
                                break Ok(Some(d));
                            }
                        }
                    }
                }
            };
        };
        if let Some(buf) = owned {
            let old = std::mem::replace(&mut self.reasm, buf);
            self.defrag.recycle(old);
            self.in_reasm = true;
        } else {
            self.in_reasm = false;
        }
        result
    }

    /// The tunnel an unfragmented IP packet carries, if any.
    fn tunnel_in_ip(
        &mut self,
        b: &[u8],
        ip: &IpHeader,
        vlan: &mut [u16; 2],
        ntags: &mut usize,
    ) -> Result<Option<Next>, Undecodable> {
        let outer_vlan = *vlan;
        let outer = |proto: u8, sport: u16, dport: u16| {
            let mut d = Decoded::addresses(ip.src, ip.dst, proto, outer_vlan);
            d.sport = sport;
            d.dport = dport;
            d
        };
        let l4 = ip.l4;
        let cfg = &self.cfg;
        match ip.proto {
            4 | 41 if cfg.ipip => {
                let want = if ip.proto == 4 { 4 } else { 6 };
                if b.get(l4).map(|v| v >> 4) != Some(want) {
                    return Err(Bad::InnerIpVersion.into());
                }
                let kind = match (ip.v4, ip.proto) {
                    (true, 4) => Kind::Ip4in4,
                    (true, _) => Kind::Ip6in4,
                    (false, 4) => Kind::Ip4in6,
                    (false, _) => Kind::Ip6in6,
                };
                self.push(kind, None, false, Some(outer(ip.proto, 0, 0)), vlan, ntags)?;
                Ok(Some(Next::Ip(l4)))
            }
            47 if cfg.gre => {
                let g = gre::gre(b, l4, ip.end, cfg.erspan)?;
                self.push(g.kind, g.id, true, Some(outer(47, 0, 0)), vlan, ntags)?;
                if let Some(e) = g.erspan {
                    if self.tunnel.erspan.is_none() {
                        self.tunnel.erspan = Some(e);
                    }
                    if e.vlan != 0 {
                        *vlan = [e.vlan, 0];
                        *ntags = 1;
                    }
                }
                Ok(Some(g.next))
            }
            17 if l4 + 8 <= ip.end => {
                let sport = be16(b, l4);
                let dport = be16(b, l4 + 2);
                let ulen = usize::from(be16(b, l4 + 4));
                let uend = if ulen >= 8 {
                    (l4 + ulen).min(ip.end)
                } else {
                    ip.end
                };
                let p = l4 + 8;
                let o = Some(outer(17, sport, dport));
                match self.udp_kind(dport) {
                    Some(Kind::Vxlan) => {
                        let (n, vni) = udp::vxlan(b, p, uend)?;
                        self.push(Kind::Vxlan, Some(vni), true, o, vlan, ntags)?;
                        Ok(Some(n))
                    }
                    Some(Kind::Geneve) => {
                        let (n, vni) = udp::geneve(b, p, uend)?;
                        self.push(Kind::Geneve, Some(vni), true, o, vlan, ntags)?;
                        Ok(Some(n))
                    }
                    Some(_) => {
                        let g = gre::gre(b, p, uend, cfg.erspan)?;
                        self.push(Kind::GreUdp, g.id, true, o, vlan, ntags)?;
                        Ok(Some(g.next))
                    }
                    None if cfg.teredo => match udp::teredo(b, p, uend) {
                        Some(n) => {
                            self.push(Kind::Teredo, None, false, o, vlan, ntags)?;
                            Ok(Some(n))
                        }
                        None => Ok(None),
                    },
                    None => Ok(None),
                }
            }
            _ => Ok(None),
        }
    }
}

/// An IP header's fields the walk needs.
struct IpHeader {
    v4: bool,
    src: IpAddr,
    dst: IpAddr,
    /// Transport protocol (IPv6: after the extension headers).
    proto: u8,
    /// Offset of the transport header (IPv6 fragment: of the payload after
    /// the fragment header).
    l4: usize,
    /// End of the packet (total length, or the captured bytes if fewer).
    end: usize,
    /// A fragment: IPv4 `Some(0)`; IPv6 the offset of its fragment header.
    frag: Option<usize>,
}

fn ip_header(b: &[u8], off: usize, end: usize) -> Result<IpHeader, Undecodable> {
    let Some(&first) = b.get(off).filter(|_| off < end) else {
        return Err(Undecodable::Truncated);
    };
    match first >> 4 {
        4 => {
            let ihl = usize::from(first & 0x0f) * 4;
            if ihl < 20 || off + ihl > end {
                return Err(Undecodable::Truncated);
            }
            let total = usize::from(be16(b, off + 2));
            if total < ihl {
                return Err(Undecodable::Truncated);
            }
            let frag = be16(b, off + 6) & 0x3fff != 0;
            Ok(IpHeader {
                v4: true,
                src: IpAddr::from([b[off + 12], b[off + 13], b[off + 14], b[off + 15]]),
                dst: IpAddr::from([b[off + 16], b[off + 17], b[off + 18], b[off + 19]]),
                proto: b[off + 9],
                l4: off + ihl,
                end: (off + total).min(end),
                frag: frag.then_some(0),
            })
        }
        6 => {
            if off + 40 > end {
                return Err(Undecodable::Truncated);
            }
            let plen = usize::from(be16(b, off + 4));
            let ip_end = if plen == 0 {
                end
            } else {
                (off + 40 + plen).min(end)
            };
            let mut nh = b[off + 6];
            let mut at = off + 40;
            let mut frag = None;
            for _ in 0..8 {
                match nh {
                    0 | 43 | 60 | 51 => {
                        if at + 2 > ip_end {
                            return Err(Undecodable::TruncatedTransport);
                        }
                        let len = if nh == 51 {
                            (usize::from(b[at + 1]) + 2) * 4
                        } else {
                            (usize::from(b[at + 1]) + 1) * 8
                        };
                        nh = b[at];
                        at += len;
                    }
                    44 => {
                        if at + 8 > ip_end {
                            return Err(Undecodable::TruncatedTransport);
                        }
                        frag = Some(at);
                        nh = b[at];
                        at += 8;
                        break;
                    }
                    _ => break,
                }
            }
            if at > ip_end {
                return Err(Undecodable::TruncatedTransport);
            }
            let mut src = [0u8; 16];
            let mut dst = [0u8; 16];
            src.copy_from_slice(&b[off + 8..off + 24]);
            dst.copy_from_slice(&b[off + 24..off + 40]);
            Ok(IpHeader {
                v4: false,
                src: IpAddr::from(src),
                dst: IpAddr::from(dst),
                proto: nh,
                l4: at,
                end: ip_end,
                frag,
            })
        }
        _ => Err(Bad::InnerIpVersion.into()),
    }
}

/// The innermost plain IP packet, through the lax path, with the VLAN ids
/// of the innermost frame.
fn finish_ip(b: &[u8], off: usize, end: usize, vlan: [u16; 2]) -> Result<Decoded, Undecodable> {
    let ip = &b[off..end];
    let sliced = etherparse::LaxSlicedPacket::from_ip(ip).map_err(|_| Undecodable::Truncated)?;
    let mut d = decode::from_lax(b, &sliced)?;
    d.vlan = vlan;
    Ok(d)
}

#[cfg(test)]
mod tests;
