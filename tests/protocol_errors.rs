//! Malformed input (spec §1.4 and the contract's protocol decisions): each case gets exactly one
//! framed error response, then the server closes that connection, and a second client on the
//! same server is still served. Queries that parse but are not executable (non-flat arrays,
//! `_0`) get an error and keep the connection usable. Incomplete queries get no answer until
//! they are complete.

mod common;

use common::server::TestServer;
use common::wire::{
    assert_usable, escape, exchange, expect_eof, read_up_to, send, simple_query, HEY, HEYA,
    PACKET_ERROR, TOO_LARGE, WRONGTYPE,
};
use common::{PATIENCE, SILENCE};
use std::net::TcpStream;

/// Sends `input` on a fresh connection, expects exactly `response`, then EOF; then checks that
/// another client of the same server is still answered.
fn assert_refused_on(server: &TestServer, input: &[u8], response: &[u8]) {
    let mut con = server.raw();
    exchange(&mut con, input, response);
    expect_eof(&mut con);
    let mut other = server.raw();
    assert_usable(&mut other);
}

fn assert_refused(input: &[u8], response: &[u8]) {
    let server = TestServer::start();
    assert_refused_on(&server, input, response);
}

/// Sends `input`, expects `response`, and checks the same connection still answers HEYA.
fn assert_answered_and_usable(input: &[u8], response: &[u8]) {
    let server = TestServer::start();
    let mut con = server.raw();
    exchange(&mut con, input, response);
    assert_usable(&mut con);
}

// ---- first byte of a query is not `*` → packet error ---------------------------------------

#[test]
fn bad_metaframe_symbol_is_a_packet_error() {
    assert_refused(b"$1\n", PACKET_ERROR);
}

#[test]
fn carriage_return_metaframe_is_a_packet_error() {
    assert_refused(b"\r1\n", PACKET_ERROR);
}

#[test]
fn leading_line_feed_is_a_packet_error() {
    assert_refused(b"\n*1\n_1\n+4\nHEYA\n", PACKET_ERROR);
}

#[test]
fn three_line_feeds_are_a_packet_error() {
    assert_refused(b"\n\n\n", PACKET_ERROR);
}

#[test]
fn zero_action_packet_is_a_packet_error() {
    assert_refused(b"*0\n", PACKET_ERROR);
}

#[test]
fn garbage_after_a_complete_query_is_a_packet_error_after_its_answer() {
    let server = TestServer::start();
    let mut con = server.raw();
    let mut input = HEYA.to_vec();
    input.push(b'\n');
    let mut expected = HEY.to_vec();
    expected.extend_from_slice(PACKET_ERROR);
    exchange(&mut con, &input, &expected);
    expect_eof(&mut con);
    assert_usable(&mut server.raw());
}

#[test]
fn garbage_after_a_non_flat_query_is_a_packet_error_after_its_wrongtype() {
    let server = TestServer::start();
    let mut con = server.raw();
    let mut expected = WRONGTYPE.to_vec();
    expected.extend_from_slice(PACKET_ERROR);
    exchange(&mut con, b"*1\n&1\n+4\nHEYA\nxyz", &expected);
    expect_eof(&mut con);
    assert_usable(&mut server.raw());
}

// ---- byte after a payload is not LF → packet error -----------------------------------------

#[test]
fn string_payload_not_followed_by_lf_is_a_packet_error() {
    assert_refused(b"*1\n_1\n+4\nHEYAx", PACKET_ERROR);
}

#[test]
fn string_payload_followed_by_cr_lf_is_a_packet_error() {
    assert_refused(b"*1\n_1\n+4\nHEYA\r\n", PACKET_ERROR);
}

#[test]
fn integer_payload_not_followed_by_lf_is_a_packet_error() {
    assert_refused(b"*1\n:1\n5x", PACKET_ERROR);
}

// ---- bad count / size lines → wrongtype ----------------------------------------------------

#[test]
fn empty_metaframe_count_is_wrongtype() {
    assert_refused(b"*\n", WRONGTYPE);
}

#[test]
fn empty_flat_array_count_is_wrongtype() {
    assert_refused(b"*1\n_\n", WRONGTYPE);
}

#[test]
fn empty_string_size_is_wrongtype() {
    assert_refused(b"*1\n_1\n+\n", WRONGTYPE);
}

#[test]
fn empty_array_count_is_wrongtype() {
    assert_refused(b"*1\n&\n", WRONGTYPE);
}

#[test]
fn non_digit_metaframe_count_is_wrongtype() {
    assert_refused(b"*x\n", WRONGTYPE);
}

#[test]
fn non_digit_flat_array_count_is_wrongtype() {
    assert_refused(b"*1\n_a\n", WRONGTYPE);
}

#[test]
fn non_digit_in_string_size_is_wrongtype() {
    assert_refused(b"*1\n_1\n+5a\nhello\n", WRONGTYPE);
}

#[test]
fn signed_string_size_is_wrongtype() {
    assert_refused(b"*1\n_1\n+-4\nHEYA\n", WRONGTYPE);
}

#[test]
fn non_digit_integer_value_is_wrongtype() {
    assert_refused(b"*1\n:2\n1a\n", WRONGTYPE);
}

#[test]
fn integer_value_overflowing_u64_is_wrongtype() {
    assert_refused(b"*1\n:21\n184467440737095516156\n", WRONGTYPE);
}

#[test]
fn metaframe_count_overflowing_u64_is_wrongtype() {
    assert_refused(b"*18446744073709551616\n", WRONGTYPE);
}

#[test]
fn flat_array_count_overflowing_u64_is_wrongtype() {
    assert_refused(b"*1\n_18446744073709551616\n", WRONGTYPE);
}

#[test]
fn string_size_overflowing_u64_is_wrongtype() {
    assert_refused(b"*1\n_1\n+18446744073709551616\n", WRONGTYPE);
}

#[test]
fn size_line_longer_than_32_bytes_is_wrongtype() {
    // 38 digits with leading zeros: the value (5) is fine, the line is too long.
    assert_refused(
        b"*1\n_1\n+00000000000000000000000000000000000005\nhello\n",
        WRONGTYPE,
    );
}

#[test]
fn size_line_longer_than_32_bytes_is_refused_before_its_lf() {
    assert_refused(
        b"*1\n_1\n+0000000000000000000000000000000000000000",
        WRONGTYPE,
    );
}

// ---- unknown element types → wrongtype -----------------------------------------------------

#[test]
fn tilde_any_array_at_top_level_is_wrongtype() {
    assert_refused(b"*1\n~1\n+4\nHEYA\n", WRONGTYPE);
}

#[test]
fn response_code_symbol_at_top_level_is_wrongtype() {
    assert_refused(b"*1\n!1\n0\n", WRONGTYPE);
}

#[test]
fn dollar_at_top_level_is_wrongtype() {
    assert_refused(b"*1\n$4\nHEYA\n", WRONGTYPE);
}

#[test]
fn metaframe_symbol_in_element_position_is_wrongtype() {
    assert_refused(b"*1\n*1\n_1\n+4\nHEYA\n", WRONGTYPE);
}

#[test]
fn tilde_nested_in_an_array_is_wrongtype() {
    assert_refused(b"*1\n&2\n+4\nHEYA\n~1\n+1\nx\n", WRONGTYPE);
}

#[test]
fn response_code_symbol_nested_in_an_array_is_wrongtype() {
    assert_refused(b"*1\n&2\n+4\nHEYA\n!1\n0\n", WRONGTYPE);
}

#[test]
fn dollar_nested_in_an_array_is_wrongtype() {
    assert_refused(b"*1\n&1\n&1\n$1\nx\n", WRONGTYPE);
}

#[test]
fn unknown_type_in_a_pipelined_query_is_wrongtype() {
    assert_refused(b"*2\n_1\n+4\nHEYA\n~1\n+4\nHEYA\n", WRONGTYPE);
}

#[test]
fn integer_inside_a_flat_array_is_wrongtype() {
    assert_refused(b"*1\n_2\n+3\nGET\n:1\n5\n", WRONGTYPE);
}

#[test]
fn array_inside_a_flat_array_is_wrongtype() {
    assert_refused(b"*1\n_2\n+3\nGET\n&1\n+1\nx\n", WRONGTYPE);
}

#[test]
fn flat_array_inside_a_flat_array_is_wrongtype() {
    assert_refused(b"*1\n_2\n+3\nGET\n_1\n+1\nx\n", WRONGTYPE);
}

#[test]
fn tilde_inside_a_flat_array_is_wrongtype() {
    assert_refused(b"*1\n_2\n+3\nGET\n~1\n+1\nx\n", WRONGTYPE);
}

// ---- sizes beyond the query limit → err-query-too-large ------------------------------------

#[test]
fn string_size_of_u64_max_is_refused_immediately() {
    assert_refused(b"*1\n_1\n+18446744073709551615\n", TOO_LARGE);
}

#[test]
fn string_size_near_u64_max_is_refused_immediately() {
    assert_refused(b"*1\n_2\n+3\nGET\n+18446744073709551605\n", TOO_LARGE);
}

#[test]
fn flat_array_count_of_u64_max_is_refused_immediately() {
    assert_refused(b"*1\n_18446744073709551615\n", TOO_LARGE);
}

#[test]
fn array_count_of_u64_max_is_refused_immediately() {
    assert_refused(b"*1\n&18446744073709551615\n", TOO_LARGE);
}

#[test]
fn declared_string_over_max_query_size_is_refused_immediately() {
    let server = TestServer::start_with(&["--max-query-size", "1K"]);
    assert_refused_on(&server, b"*1\n_2\n+3\nGET\n+2000\n", TOO_LARGE);
}

/// A query of `total` bytes: SET k <padding>.
fn set_query_of_size(total: usize) -> Vec<u8> {
    let overhead = simple_query(&[b"SET", b"k", b""]).len();
    // The value's size line grows with its digits; find the padding that lands exactly.
    (0..total)
        .map(|padding| simple_query(&[b"SET", b"k", &vec![b'v'; padding]]))
        .find(|query| query.len() >= total)
        .filter(|query| query.len() == total)
        .unwrap_or_else(|| panic!("no SET query of exactly {total} bytes (overhead {overhead})"))
}

#[test]
fn received_query_over_max_query_size_is_refused() {
    let server = TestServer::start_with(&["--max-query-size", "1K"]);
    // Many small elements: no single declared size is over the limit, only the whole query.
    let args: Vec<Vec<u8>> = (0..300).map(|i| format!("k{i:04}").into_bytes()).collect();
    let mut parts: Vec<&[u8]> = vec![b"EXISTS"];
    parts.extend(args.iter().map(Vec::as_slice));
    let query = simple_query(&parts);
    assert!(query.len() > 2048);
    assert_refused_on(&server, &query, TOO_LARGE);
}

#[test]
fn query_under_max_query_size_is_answered() {
    let server = TestServer::start_with(&["--max-query-size", "1K"]);
    let mut con = server.raw();
    exchange(&mut con, &set_query_of_size(900), b"*1\n!1\n0\n");
    assert_usable(&mut con);
}

#[test]
fn max_query_size_suffix_k_means_kibibytes() {
    let server = TestServer::start_with(&["--max-query-size", "2K"]);
    let mut con = server.raw();
    // 2040 bytes fits in 2 KiB = 2048 bytes (it would not fit in 2000).
    exchange(&mut con, &set_query_of_size(2040), b"*1\n!1\n0\n");
    assert_usable(&mut con);
    assert_refused_on(&server, &set_query_of_size(2100), TOO_LARGE);
}

#[test]
fn max_query_size_in_plain_bytes() {
    let server = TestServer::start_with(&["--max-query-size", "1000"]);
    let mut con = server.raw();
    exchange(&mut con, &set_query_of_size(900), b"*1\n!1\n0\n");
    assert_refused_on(&server, &set_query_of_size(1100), TOO_LARGE);
}

// ---- parsed but not executable: error, connection stays usable -----------------------------

#[test]
fn string_query_is_wrongtype_and_keeps_the_connection() {
    assert_answered_and_usable(b"*1\n+4\nHEYA\n", WRONGTYPE);
}

#[test]
fn integer_query_is_wrongtype_and_keeps_the_connection() {
    assert_answered_and_usable(b"*1\n:20\n18446744073709551615\n", WRONGTYPE);
}

#[test]
fn array_query_is_wrongtype_and_keeps_the_connection() {
    assert_answered_and_usable(b"*1\n&1\n+4\nHEYA\n", WRONGTYPE);
}

#[test]
fn nested_mixed_array_query_is_wrongtype_and_keeps_the_connection() {
    assert_answered_and_usable(
        b"*1\n&3\n+3\nACT\n+3\nfoo\n&4\n+1\na\n:1\n1\n_1\n+1\nb\n&0\n",
        WRONGTYPE,
    );
}

#[test]
fn empty_flat_array_is_a_packet_error_and_keeps_the_connection() {
    assert_answered_and_usable(b"*1\n_0\n", PACKET_ERROR);
}

#[test]
fn pipelined_non_flat_element_gets_its_own_wrongtype() {
    assert_answered_and_usable(b"*2\n+1\nx\n_1\n+4\nHEYA\n", b"*2\n!1\n7\n+4\nHEY!\n");
}

#[test]
fn pipelined_empty_flat_array_gets_its_own_packet_error() {
    assert_answered_and_usable(b"*2\n_0\n_1\n+4\nHEYA\n", b"*2\n!1\n4\n+4\nHEY!\n");
}

#[test]
fn wrongtype_connection_is_not_wedged() {
    let server = TestServer::start();
    let mut con = server.raw();
    for _ in 0..3 {
        exchange(&mut con, b"*1\n&1\n+4\nHEYA\n", WRONGTYPE);
        exchange(&mut con, b"*1\n_0\n", PACKET_ERROR);
        assert_usable(&mut con);
    }
}

// ---- incomplete queries wait ---------------------------------------------------------------

/// Each (prefix, rest, response): after the prefix nothing is answered; after the rest the
/// response arrives. All prefixes are sent first, on parallel connections, then one silence
/// window covers them all.
fn assert_waits_for_completion(cases: &[(&[u8], &[u8], &[u8])]) {
    let server = TestServer::start();
    let mut connections: Vec<TcpStream> = cases
        .iter()
        .map(|(prefix, _, _)| {
            let mut con = server.raw();
            send(&mut con, prefix);
            con
        })
        .collect();
    std::thread::sleep(SILENCE);
    for (con, (prefix, _, _)) in connections.iter_mut().zip(cases) {
        con.set_nonblocking(true).unwrap();
        let mut buffer = [0u8; 256];
        match std::io::Read::read(con, &mut buffer) {
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Ok(0) => panic!("closed after incomplete prefix \"{}\"", escape(prefix)),
            Ok(read) => panic!(
                "answered incomplete prefix \"{}\" with \"{}\"",
                escape(prefix),
                escape(&buffer[..read])
            ),
            Err(error) => panic!("prefix \"{}\": read error {error}", escape(prefix)),
        }
        con.set_nonblocking(false).unwrap();
    }
    for (con, (prefix, rest, response)) in connections.iter_mut().zip(cases) {
        send(con, rest);
        let (received, ending) = read_up_to(con, response.len(), PATIENCE);
        assert_eq!(
            escape(&received),
            escape(response),
            "prefix \"{}\" + rest \"{}\" ({ending})",
            escape(prefix),
            escape(rest)
        );
    }
}

#[test]
fn incomplete_queries_of_the_upstream_checklist_wait() {
    assert_waits_for_completion(&[
        (b"*", b"1\n_1\n+4\nHEYA\n", HEY),
        (
            b"*2",
            b"\n_1\n+4\nHEYA\n_1\n+4\nHEYA\n",
            b"*2\n+4\nHEY!\n+4\nHEY!\n",
        ),
        (b"*1\n_", b"1\n+4\nHEYA\n", HEY),
        (b"*1\n_1", b"\n+4\nHEYA\n", HEY),
        (b"*1\n_1\n", b"+4\nHEYA\n", HEY),
        (b"*1\n&1\n", b"+4\nHEYA\n", WRONGTYPE),
        (b"*1\n+1\n", b"x\n", WRONGTYPE),
        (b"*1\n:1\n", b"5\n", WRONGTYPE),
        (b"*1\n_1\n+5\nsayan", b"\n", b"*1\n!14\nUnknown action\n"),
        (
            b"*2\n_1\n+4\nHEYA\n",
            b"_2\n+3\nGET\n+1\nx\n",
            b"*2\n+4\nHEY!\n!1\n1\n",
        ),
    ]);
}

#[test]
fn simple_query_cut_at_every_point_waits() {
    let query: &[u8] = b"*1\n_3\n+4\nHEYA\n+3\na\nb\n+0\n\n";
    let cases: Vec<(&[u8], &[u8], &[u8])> = (1..query.len())
        .map(|cut| (&query[..cut], &query[cut..], HEY))
        .collect();
    assert_waits_for_completion(&cases);
}

#[test]
fn pipelined_query_cut_at_every_point_waits() {
    let query: &[u8] = b"*3\n_2\n+3\nGET\n+7\nmissing\n&2\n:2\n42\n+1\nz\n_1\n+4\nHEYA\n";
    let response: &[u8] = b"*3\n!1\n1\n!1\n7\n+4\nHEY!\n";
    let cases: Vec<(&[u8], &[u8], &[u8])> = (1..query.len())
        .map(|cut| (&query[..cut], &query[cut..], response))
        .collect();
    assert_waits_for_completion(&cases);
}
