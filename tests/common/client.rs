//! Helpers for the real `skytable` 0.4.0 client: run a query and get its element, and build
//! the elements tests compare with. Client calls have no timeout of their own; wrap a call
//! that might hang in [`super::within`].

use skytable::actions::SyncSocket;
use skytable::{Element, Query, RespCode, Response};

/// Runs `args` as one query through the client (over TCP or TLS) and returns the response
/// element.
pub fn query(con: &mut impl SyncSocket, args: &[&str]) -> Element {
    let query = Query::from(args.to_vec());
    match con.run(query) {
        Ok(Response::Item(element)) => element,
        Ok(other) => panic!("query {args:?}: the client could not parse the response: {other:?}"),
        Err(error) => panic!("query {args:?}: I/O error {error}"),
    }
}

pub fn code(code: RespCode) -> Element {
    Element::RespCode(code)
}

pub fn string(value: &str) -> Element {
    Element::String(value.to_owned())
}

pub fn int(value: u64) -> Element {
    Element::UnsignedInt(value)
}
