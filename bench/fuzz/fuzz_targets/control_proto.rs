//! The control protocol: any bytes as a JSON-lines request (what the
//! daemon's API reads from its socket) and as a response (what the CLI
//! reads back), then the view options the daemon parses out of a request
//! (conntrack's filter, `ip route show`'s table). A request that decodes
//! encodes back to a line that decodes to the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_control::api::proto::{self, Request, ViewReq};
use sluice_control::views::{conntrack::CtQuery, route};

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let _ = proto::decode_response(line);
    let Ok(req) = proto::decode_request(line) else {
        return;
    };
    let again = proto::decode_request(proto::encode_request(&req).trim_end());
    assert_eq!(again.as_ref(), Ok(&req), "request does not round-trip");
    if let Request::View { view, .. } = req {
        match view {
            ViewReq::Conntrack { filter, .. } => {
                let _ = CtQuery::parse(&filter);
            }
            ViewReq::RouteShow { selector } => {
                if let [_, id] = selector.as_slice() {
                    let _ = route::parse_table(id);
                }
            }
            _ => {}
        }
    }
});
