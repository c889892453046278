//! The byte-exact exchanges of spec §1.7 and §2 ("Example exact responses"), sent as raw bytes.
//! Where skyd 0.6.4 had a bug, the test asserts the documented fix of the contract instead and
//! is named after that fix (`fix_...`). Every test runs on its own server.

mod common;

use common::entries::Entries;
use common::files::read_data_file;
use common::server::TestServer;
use common::wire::{assert_usable, exchange, expect_eof, HEYA};

/// One raw connection to a fresh server.
fn fresh() -> (TestServer, std::net::TcpStream) {
    let server = TestServer::start();
    let stream = server.raw();
    (server, stream)
}

#[test]
fn set_absent_key_answers_okay() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_3\n+3\nSET\n+1\nx\n+3\n100\n",
        b"*1\n!1\n0\n",
    );
}

#[test]
fn set_present_key_answers_overwrite_error_and_keeps_value() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_3\n+3\nSET\n+1\nx\n+3\n100\n",
        b"*1\n!1\n0\n",
    );
    exchange(
        &mut con,
        b"*1\n_3\n+3\nSET\n+1\nx\n+3\n200\n",
        b"*1\n!1\n2\n",
    );
    exchange(&mut con, b"*1\n_2\n+3\nGET\n+1\nx\n", b"*1\n+3\n100\n");
}

#[test]
fn get_present_key_answers_string() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_3\n+3\nSET\n+1\nx\n+3\n100\n",
        b"*1\n!1\n0\n",
    );
    exchange(&mut con, b"*1\n_2\n+3\nGET\n+1\nx\n", b"*1\n+3\n100\n");
}

#[test]
fn get_missing_key_answers_not_found() {
    let (_server, mut con) = fresh();
    exchange(&mut con, b"*1\n_2\n+3\nGET\n+7\nmissing\n", b"*1\n!1\n1\n");
}

#[test]
fn get_without_key_answers_action_error() {
    let (_server, mut con) = fresh();
    exchange(&mut con, b"*1\n_1\n+3\nGET\n", b"*1\n!1\n3\n");
}

#[test]
fn heya_answers_hey() {
    let (_server, mut con) = fresh();
    exchange(&mut con, b"*1\n_1\n+4\nHEYA\n", b"*1\n+4\nHEY!\n");
}

#[test]
fn heya_ignores_its_arguments() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_3\n+4\nHEYA\n+3\nfoo\n+3\nbar\n",
        b"*1\n+4\nHEY!\n",
    );
}

#[test]
fn dbsize_with_one_key_answers_unsigned_one() {
    let (_server, mut con) = fresh();
    exchange(&mut con, b"*1\n_1\n+6\nDBSIZE\n", b"*1\n:1\n0\n");
    exchange(
        &mut con,
        b"*1\n_3\n+3\nSET\n+1\nx\n+3\n100\n",
        b"*1\n!1\n0\n",
    );
    exchange(&mut con, b"*1\n_1\n+6\nDBSIZE\n", b"*1\n:1\n1\n");
}

#[test]
fn mget_mixes_values_and_not_found_codes() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_3\n+3\nSET\n+1\nx\n+3\n100\n",
        b"*1\n!1\n0\n",
    );
    exchange(
        &mut con,
        b"*1\n_3\n+4\nMGET\n+1\nx\n+4\nnope\n",
        b"*1\n&2\n+3\n100\n!1\n1\n",
    );
}

#[test]
fn lskeys_answers_flat_array_of_keys() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_3\n+3\nSET\n+1\nx\n+3\n100\n",
        b"*1\n!1\n0\n",
    );
    exchange(&mut con, b"*1\n_1\n+6\nLSKEYS\n", b"*1\n_1\n+1\nx\n");
}

#[test]
fn lskeys_with_non_numeric_limit_answers_wrongtype() {
    let (_server, mut con) = fresh();
    exchange(&mut con, b"*1\n_2\n+6\nLSKEYS\n+3\nabc\n", b"*1\n!1\n7\n");
    assert_usable(&mut con);
}

#[test]
fn lskeys_accepts_a_plus_sign_in_the_limit() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_3\n+3\nSET\n+1\nx\n+3\n100\n",
        b"*1\n!1\n0\n",
    );
    exchange(
        &mut con,
        b"*1\n_2\n+6\nLSKEYS\n+2\n+5\n",
        b"*1\n_1\n+1\nx\n",
    );
}

#[test]
fn lskeys_zero_answers_empty_flat_array() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_3\n+3\nSET\n+1\nx\n+3\n100\n",
        b"*1\n!1\n0\n",
    );
    exchange(&mut con, b"*1\n_2\n+6\nLSKEYS\n+1\n0\n", b"*1\n_0\n");
}

#[test]
fn unknown_action_answers_error_string() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_1\n+6\nFOOBAR\n",
        b"*1\n!14\nUnknown action\n",
    );
    assert_usable(&mut con);
}

#[test]
fn jget_is_not_routed() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_2\n+4\nJGET\n+1\nx\n",
        b"*1\n!14\nUnknown action\n",
    );
}

#[test]
fn mksnap_with_snapshots_disabled_answers_err_snapshot_disabled() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_1\n+6\nMKSNAP\n",
        b"*1\n!21\nerr-snapshot-disabled\n",
    );
}

#[test]
fn mksnap_with_a_valid_name_writes_the_named_snapshot_even_with_snapshots_disabled() {
    let (server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_3\n+3\nSET\n+1\nx\n+3\n100\n",
        b"*1\n!1\n0\n",
    );
    exchange(&mut con, b"*1\n_2\n+6\nMKSNAP\n+3\nfoo\n", b"*1\n!1\n0\n");
    // The answer comes only once the file is in place.
    let path = server.data_dir().join("snapshots/remote/foo.snapshot");
    let expected: Entries = [(b"x".to_vec(), b"100".to_vec())].into();
    assert_eq!(read_data_file(&path), expected);
}

#[test]
fn mksnap_rooted_name_answers_err_invalid_snapshot_name() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_2\n+6\nMKSNAP\n+6\n/var/x\n",
        b"*1\n!25\nerr-invalid-snapshot-name\n",
    );
}

#[test]
fn mksnap_parent_name_answers_err_invalid_snapshot_name() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_2\n+6\nMKSNAP\n+4\n../x\n",
        b"*1\n!25\nerr-invalid-snapshot-name\n",
    );
}

#[test]
fn mksnap_with_two_arguments_answers_action_error() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_3\n+6\nMKSNAP\n+1\na\n+1\nb\n",
        b"*1\n!1\n3\n",
    );
}

#[test]
fn mset_of_three_new_pairs_answers_three() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_7\n+4\nMSET\n+1\nx\n+3\n100\n+1\ny\n+3\n200\n+1\nz\n+3\n300\n",
        b"*1\n:1\n3\n",
    );
}

#[test]
fn mset_counts_only_inserted_pairs() {
    let (_server, mut con) = fresh();
    exchange(&mut con, b"*1\n_3\n+3\nSET\n+1\nx\n+1\n1\n", b"*1\n!1\n0\n");
    exchange(
        &mut con,
        b"*1\n_7\n+4\nMSET\n+1\na\n+1\n1\n+1\nb\n+1\n2\n+1\nx\n+1\n9\n",
        b"*1\n:1\n2\n",
    );
    exchange(&mut con, b"*1\n_2\n+3\nGET\n+1\nx\n", b"*1\n+1\n1\n");
}

#[test]
fn mset_with_a_repeated_key_keeps_the_first_value() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_5\n+4\nMSET\n+1\na\n+1\n1\n+1\na\n+1\n2\n",
        b"*1\n:1\n1\n",
    );
    exchange(&mut con, b"*1\n_2\n+3\nGET\n+1\na\n", b"*1\n+1\n1\n");
}

#[test]
fn uset_with_a_repeated_key_counts_both_and_keeps_the_last_value() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_5\n+4\nUSET\n+1\na\n+1\n1\n+1\na\n+1\n2\n",
        b"*1\n:1\n2\n",
    );
    exchange(&mut con, b"*1\n_2\n+3\nGET\n+1\na\n", b"*1\n+1\n2\n");
}

#[test]
fn del_of_three_keys_answers_three() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_7\n+4\nMSET\n+1\nx\n+3\n100\n+1\ny\n+3\n200\n+1\nz\n+3\n300\n",
        b"*1\n:1\n3\n",
    );
    exchange(
        &mut con,
        b"*1\n_4\n+3\nDEL\n+1\nx\n+1\ny\n+1\nz\n",
        b"*1\n:1\n3\n",
    );
    exchange(&mut con, b"*1\n_1\n+6\nDBSIZE\n", b"*1\n:1\n0\n");
}

#[test]
fn del_of_a_repeated_key_counts_it_once() {
    let (_server, mut con) = fresh();
    exchange(&mut con, b"*1\n_3\n+3\nSET\n+1\na\n+1\n1\n", b"*1\n!1\n0\n");
    exchange(&mut con, b"*1\n_3\n+3\nDEL\n+1\na\n+1\na\n", b"*1\n:1\n1\n");
}

#[test]
fn exists_counts_present_arguments() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_7\n+4\nMSET\n+1\nx\n+3\n100\n+1\ny\n+3\n200\n+1\nz\n+3\n300\n",
        b"*1\n:1\n3\n",
    );
    exchange(
        &mut con,
        b"*1\n_5\n+6\nEXISTS\n+1\nx\n+1\ny\n+1\nz\n+1\na\n",
        b"*1\n:1\n3\n",
    );
}

#[test]
fn exists_counts_a_repeated_key_each_time() {
    let (_server, mut con) = fresh();
    exchange(&mut con, b"*1\n_3\n+3\nSET\n+1\na\n+1\n1\n", b"*1\n!1\n0\n");
    exchange(
        &mut con,
        b"*1\n_3\n+6\nEXISTS\n+1\na\n+1\na\n",
        b"*1\n:1\n2\n",
    );
}

#[test]
fn pop_mixes_not_found_and_values_and_removes_keys() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_3\n+3\nSET\n+1\nx\n+3\n100\n",
        b"*1\n!1\n0\n",
    );
    exchange(
        &mut con,
        b"*1\n_3\n+3\nPOP\n+5\napple\n+1\nx\n",
        b"*1\n&2\n!1\n1\n+3\n100\n",
    );
    exchange(&mut con, b"*1\n_2\n+3\nGET\n+1\nx\n", b"*1\n!1\n1\n");
}

#[test]
fn pop_of_a_repeated_key_yields_not_found_the_second_time() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_3\n+3\nSET\n+1\nx\n+3\n100\n",
        b"*1\n!1\n0\n",
    );
    exchange(
        &mut con,
        b"*1\n_3\n+3\nPOP\n+1\nx\n+1\nx\n",
        b"*1\n&2\n+3\n100\n!1\n1\n",
    );
}

#[test]
fn keylen_answers_the_value_length() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_3\n+3\nSET\n+1\nx\n+10\nhelloworld\n",
        b"*1\n!1\n0\n",
    );
    exchange(&mut con, b"*1\n_2\n+6\nKEYLEN\n+1\nx\n", b"*1\n:2\n10\n");
}

#[test]
fn flushdb_with_an_argument_answers_action_error() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_2\n+7\nFLUSHDB\n+5\nextra\n",
        b"*1\n!1\n3\n",
    );
}

#[test]
fn empty_key_and_value_are_legal() {
    let (_server, mut con) = fresh();
    exchange(&mut con, b"*1\n_3\n+3\nSET\n+0\n\n+0\n\n", b"*1\n!1\n0\n");
    exchange(&mut con, b"*1\n_2\n+3\nGET\n+0\n\n", b"*1\n+0\n\n");
    exchange(&mut con, b"*1\n_2\n+6\nKEYLEN\n+0\n\n", b"*1\n:1\n0\n");
}

#[test]
fn string_payload_may_contain_line_feeds() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_3\n+3\nSET\n+3\na\nb\n+3\n\n\n\n\n",
        b"*1\n!1\n0\n",
    );
    exchange(
        &mut con,
        b"*1\n_2\n+3\nGET\n+3\na\nb\n",
        b"*1\n+3\n\n\n\n\n",
    );
}

#[test]
fn action_names_are_case_insensitive() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_3\n+3\nsEt\n+1\nx\n+3\n100\n",
        b"*1\n!1\n0\n",
    );
    exchange(&mut con, b"*1\n_2\n+3\nget\n+1\nx\n", b"*1\n+3\n100\n");
    exchange(&mut con, b"*1\n_1\n+4\nheYa\n", b"*1\n+4\nHEY!\n");
}

#[test]
fn size_lines_accept_leading_zeros() {
    let (_server, mut con) = fresh();
    exchange(&mut con, b"*01\n_001\n+0004\nHEYA\n", b"*1\n+4\nHEY!\n");
}

// ---- documented fixes of skyd 0.6.4 bugs ---------------------------------------------------

#[test]
fn fix_pipelined_query_is_executed_and_answered_in_order() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*2\n_2\n+3\nGET\n+1\nx\n_1\n+4\nHEYA\n",
        b"*2\n!1\n1\n+4\nHEY!\n",
    );
    assert_usable(&mut con);
}

#[test]
fn fix_pipelined_query_sees_its_own_earlier_writes() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*3\n_3\n+3\nSET\n+1\nx\n+3\n100\n_2\n+3\nGET\n+1\nx\n_3\n+3\nSET\n+1\nx\n+1\n9\n",
        b"*3\n!1\n0\n+3\n100\n!1\n2\n",
    );
}

#[test]
fn fix_bad_metaframe_answers_packet_error_then_closes() {
    let (_server, mut con) = fresh();
    exchange(&mut con, b"$1\n", b"*1\n!1\n4\n");
    expect_eof(&mut con);
}

#[test]
fn fix_zero_action_packet_answers_packet_error_then_closes() {
    let (_server, mut con) = fresh();
    exchange(&mut con, b"*0\n", b"*1\n!1\n4\n");
    expect_eof(&mut con);
}

#[test]
fn fix_bad_size_line_answers_framed_wrongtype_then_closes() {
    let (_server, mut con) = fresh();
    exchange(&mut con, b"*1\n_x\n", b"*1\n!1\n7\n");
    expect_eof(&mut con);
}

#[test]
fn fix_non_flat_array_query_answers_well_formed_wrongtype() {
    let (_server, mut con) = fresh();
    exchange(&mut con, b"*1\n&1\n+4\nHEYA\n", b"*1\n!1\n7\n");
    assert_usable(&mut con);
}

#[test]
fn fix_empty_flat_array_answers_packet_error_and_keeps_the_connection() {
    let (_server, mut con) = fresh();
    exchange(&mut con, b"*1\n_0\n", b"*1\n!1\n4\n");
    assert_usable(&mut con);
}

#[test]
fn fix_unknown_element_type_answers_wrongtype_instead_of_dropping() {
    let (_server, mut con) = fresh();
    exchange(&mut con, b"*1\n~1\n+4\nHEYA\n", b"*1\n!1\n7\n");
    expect_eof(&mut con);
}

#[test]
fn fix_two_queries_in_one_write_are_both_answered() {
    let (_server, mut con) = fresh();
    let mut both = b"*1\n_2\n+3\nGET\n+1\nx\n".to_vec();
    both.extend_from_slice(HEYA);
    exchange(&mut con, &both, b"*1\n!1\n1\n*1\n+4\nHEY!\n");
}

#[test]
fn fix_sset_checks_keys_only_not_values() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_3\n+3\nSET\n+3\n100\n+1\n1\n",
        b"*1\n!1\n0\n",
    );
    exchange(
        &mut con,
        b"*1\n_3\n+4\nSSET\n+1\nx\n+3\n100\n",
        b"*1\n!1\n0\n",
    );
    exchange(&mut con, b"*1\n_2\n+3\nGET\n+1\nx\n", b"*1\n+3\n100\n");
}

#[test]
fn fix_sset_with_a_repeated_key_stores_the_first_pair() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_5\n+4\nSSET\n+1\na\n+1\n1\n+1\na\n+1\n2\n",
        b"*1\n!1\n0\n",
    );
    exchange(&mut con, b"*1\n_2\n+3\nGET\n+1\na\n", b"*1\n+1\n1\n");
    exchange(&mut con, b"*1\n_1\n+6\nDBSIZE\n", b"*1\n:1\n1\n");
}

#[test]
fn fix_sdel_with_a_repeated_key_deletes_it_once() {
    let (_server, mut con) = fresh();
    exchange(&mut con, b"*1\n_3\n+3\nSET\n+1\na\n+1\n1\n", b"*1\n!1\n0\n");
    exchange(
        &mut con,
        b"*1\n_3\n+4\nSDEL\n+1\na\n+1\na\n",
        b"*1\n!1\n0\n",
    );
    exchange(&mut con, b"*1\n_2\n+3\nGET\n+1\na\n", b"*1\n!1\n1\n");
}

#[test]
fn fix_supdate_with_a_repeated_key_keeps_the_last_value() {
    let (_server, mut con) = fresh();
    exchange(&mut con, b"*1\n_3\n+3\nSET\n+1\na\n+1\n0\n", b"*1\n!1\n0\n");
    exchange(
        &mut con,
        b"*1\n_5\n+7\nSUPDATE\n+1\na\n+1\n1\n+1\na\n+1\n2\n",
        b"*1\n!1\n0\n",
    );
    exchange(&mut con, b"*1\n_2\n+3\nGET\n+1\na\n", b"*1\n+1\n2\n");
}

#[test]
fn fix_byte_ff_is_stored_and_returned_unchanged() {
    let (_server, mut con) = fresh();
    exchange(
        &mut con,
        b"*1\n_3\n+3\nSET\n+1\n\xff\n+2\n\xff\xfe\n",
        b"*1\n!1\n0\n",
    );
    exchange(
        &mut con,
        b"*1\n_2\n+3\nGET\n+1\n\xff\n",
        b"*1\n+2\n\xff\xfe\n",
    );
    exchange(&mut con, b"*1\n_2\n+6\nKEYLEN\n+1\n\xff\n", b"*1\n:1\n2\n");
}
