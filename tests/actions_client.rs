//! Every action of spec §2 and every line of the upstream checklist (spec §5.1, TLS excluded),
//! driven through the real Skyhash 1.0 client `skytable` 0.4.0. The client's `mupdate()` sends
//! MSET, so MUPDATE is sent as a plain query. Every test runs on its own server.

mod common;

use common::client::{code, int, query, string};
use common::server::TestServer;
use skytable::actions::Actions;
use skytable::types::SnapshotResult;
use skytable::{Element, RespCode};

fn fresh() -> (TestServer, skytable::Connection) {
    let server = TestServer::start();
    let con = server.client();
    (server, con)
}

fn mset_xyz(con: &mut skytable::Connection) {
    assert_eq!(
        con.mset(vec!["x", "y", "z"], vec!["100", "200", "300"])
            .unwrap(),
        3
    );
}

// ---- connection / misc -------------------------------------------------------------------

#[test]
fn heya_answers_hey() {
    let (_server, mut con) = fresh();
    assert_eq!(query(&mut con, &["heya"]), string("HEY!"));
}

#[test]
fn action_names_are_case_insensitive() {
    let (_server, mut con) = fresh();
    assert_eq!(query(&mut con, &["sEt", "x", "100"]), code(RespCode::Okay));
    assert_eq!(query(&mut con, &["GeT", "x"]), string("100"));
    assert_eq!(query(&mut con, &["DBSIZE"]), int(1));
    assert_eq!(query(&mut con, &["dbsize"]), int(1));
}

#[test]
fn unknown_action_answers_error_string() {
    let (_server, mut con) = fresh();
    assert_eq!(
        query(&mut con, &["foobar"]),
        code(RespCode::ErrorString("Unknown action".to_owned()))
    );
    assert_eq!(
        query(&mut con, &["jget", "x"]),
        code(RespCode::ErrorString("Unknown action".to_owned()))
    );
}

// ---- GET ---------------------------------------------------------------------------------

#[test]
fn get_missing_key_is_not_found() {
    let (_server, mut con) = fresh();
    assert_eq!(query(&mut con, &["get", "x"]), code(RespCode::NotFound));
}

#[test]
fn get_after_set_returns_the_value() {
    let (_server, mut con) = fresh();
    con.set("x", "100").unwrap();
    assert_eq!(con.get("x").unwrap(), "100");
}

#[test]
fn get_with_wrong_arity_is_action_error() {
    let (_server, mut con) = fresh();
    assert_eq!(query(&mut con, &["get"]), code(RespCode::ActionError));
    assert_eq!(
        query(&mut con, &["get", "x", "y"]),
        code(RespCode::ActionError)
    );
}

// ---- SET ---------------------------------------------------------------------------------

#[test]
fn set_existing_key_is_overwrite_error() {
    let (_server, mut con) = fresh();
    assert_eq!(query(&mut con, &["set", "x", "100"]), code(RespCode::Okay));
    assert_eq!(
        query(&mut con, &["set", "x", "200"]),
        code(RespCode::OverwriteError)
    );
    assert_eq!(con.get("x").unwrap(), "100");
}

#[test]
fn set_with_wrong_arity_is_action_error() {
    let (_server, mut con) = fresh();
    assert_eq!(query(&mut con, &["set", "x"]), code(RespCode::ActionError));
    assert_eq!(
        query(&mut con, &["set", "x", "y", "z"]),
        code(RespCode::ActionError)
    );
    assert_eq!(con.dbsize().unwrap(), 0);
}

// ---- UPDATE ------------------------------------------------------------------------------

#[test]
fn update_existing_key_replaces_the_value() {
    let (_server, mut con) = fresh();
    con.set("x", "100").unwrap();
    assert_eq!(
        query(&mut con, &["update", "x", "200"]),
        code(RespCode::Okay)
    );
    assert_eq!(con.get("x").unwrap(), "200");
    con.update("x", "300").unwrap();
    assert_eq!(con.get("x").unwrap(), "300");
}

#[test]
fn update_missing_key_is_not_found() {
    let (_server, mut con) = fresh();
    assert_eq!(
        query(&mut con, &["update", "x", "200"]),
        code(RespCode::NotFound)
    );
    assert_eq!(con.dbsize().unwrap(), 0);
}

#[test]
fn update_with_wrong_arity_is_action_error() {
    let (_server, mut con) = fresh();
    assert_eq!(
        query(&mut con, &["update", "x"]),
        code(RespCode::ActionError)
    );
    assert_eq!(
        query(&mut con, &["update", "x", "y", "z"]),
        code(RespCode::ActionError)
    );
}

// ---- DEL ---------------------------------------------------------------------------------

#[test]
fn del_missing_key_counts_zero() {
    let (_server, mut con) = fresh();
    assert_eq!(con.del("x").unwrap(), 0);
}

#[test]
fn del_existing_key_counts_one() {
    let (_server, mut con) = fresh();
    con.set("x", "100").unwrap();
    assert_eq!(con.del("x").unwrap(), 1);
    assert_eq!(query(&mut con, &["get", "x"]), code(RespCode::NotFound));
}

#[test]
fn del_of_three_keys_counts_three() {
    let (_server, mut con) = fresh();
    mset_xyz(&mut con);
    assert_eq!(con.del(vec!["x", "y", "z"]).unwrap(), 3);
    assert_eq!(con.dbsize().unwrap(), 0);
}

#[test]
fn del_without_keys_is_action_error() {
    let (_server, mut con) = fresh();
    assert_eq!(query(&mut con, &["del"]), code(RespCode::ActionError));
}

// ---- EXISTS ------------------------------------------------------------------------------

#[test]
fn exists_counts_present_keys() {
    let (_server, mut con) = fresh();
    mset_xyz(&mut con);
    assert_eq!(con.exists(vec!["x", "y", "z", "a"]).unwrap(), 3);
}

#[test]
fn exists_without_keys_is_action_error() {
    let (_server, mut con) = fresh();
    assert_eq!(query(&mut con, &["exists"]), code(RespCode::ActionError));
}

// ---- MGET --------------------------------------------------------------------------------

#[test]
fn mget_returns_all_values_in_order() {
    let (_server, mut con) = fresh();
    mset_xyz(&mut con);
    assert_eq!(
        con.mget(vec!["x", "y", "z"]).unwrap(),
        vec![string("100"), string("200"), string("300")]
    );
}

#[test]
fn mget_marks_missing_keys_not_found() {
    let (_server, mut con) = fresh();
    mset_xyz(&mut con);
    assert_eq!(
        con.mget(vec!["x", "y", "a", "z", "b"]).unwrap(),
        vec![
            string("100"),
            string("200"),
            code(RespCode::NotFound),
            string("300"),
            code(RespCode::NotFound)
        ]
    );
}

#[test]
fn mget_without_keys_is_action_error() {
    let (_server, mut con) = fresh();
    assert_eq!(query(&mut con, &["mget"]), code(RespCode::ActionError));
}

// ---- MSET --------------------------------------------------------------------------------

#[test]
fn mset_counts_inserted_pairs() {
    let (_server, mut con) = fresh();
    assert_eq!(con.mset(vec!["x"], vec!["100"]).unwrap(), 1);
    assert_eq!(
        con.mset(vec!["a", "b", "c"], vec!["1", "2", "3"]).unwrap(),
        3
    );
    assert_eq!(con.dbsize().unwrap(), 4);
}

#[test]
fn mset_skips_existing_keys() {
    let (_server, mut con) = fresh();
    mset_xyz(&mut con);
    assert_eq!(
        con.mset(vec!["x", "y", "z", "a"], vec!["1", "2", "3", "apple"])
            .unwrap(),
        1
    );
    assert_eq!(con.get("x").unwrap(), "100");
    assert_eq!(con.get("a").unwrap(), "apple");
}

#[test]
fn mset_with_wrong_arity_is_action_error() {
    let (_server, mut con) = fresh();
    assert_eq!(query(&mut con, &["mset"]), code(RespCode::ActionError));
    assert_eq!(
        query(&mut con, &["mset", "x", "y", "z"]),
        code(RespCode::ActionError)
    );
    assert_eq!(con.dbsize().unwrap(), 0);
}

// ---- MUPDATE (plain query: the client's mupdate() sends MSET) ----------------------------

#[test]
fn mupdate_counts_updated_pairs() {
    let (_server, mut con) = fresh();
    assert_eq!(con.mset(vec!["x"], vec!["100"]).unwrap(), 1);
    assert_eq!(query(&mut con, &["mupdate", "x", "200"]), int(1));
    assert_eq!(con.get("x").unwrap(), "200");
}

#[test]
fn mupdate_skips_absent_keys() {
    let (_server, mut con) = fresh();
    mset_xyz(&mut con);
    assert_eq!(
        query(
            &mut con,
            &["mupdate", "x", "1", "y", "2", "z", "3", "a", "apple"]
        ),
        int(3)
    );
    assert_eq!(
        con.mget(vec!["x", "y", "z", "a"]).unwrap(),
        vec![
            string("1"),
            string("2"),
            string("3"),
            code(RespCode::NotFound)
        ]
    );
}

/// Also upstream's two "supdate syntax" tests, which really sent MUPDATE (spec §5.1).
#[test]
fn mupdate_with_wrong_arity_is_action_error() {
    let (_server, mut con) = fresh();
    assert_eq!(query(&mut con, &["mupdate"]), code(RespCode::ActionError));
    assert_eq!(
        query(&mut con, &["mupdate", "x", "y", "z"]),
        code(RespCode::ActionError)
    );
}

// ---- SSET --------------------------------------------------------------------------------

#[test]
fn sset_of_a_new_key_is_okay() {
    let (_server, mut con) = fresh();
    assert_eq!(query(&mut con, &["sset", "x", "100"]), code(RespCode::Okay));
    assert_eq!(con.get("x").unwrap(), "100");
}

#[test]
fn sset_of_an_existing_key_is_overwrite_error() {
    let (_server, mut con) = fresh();
    con.set("x", "100").unwrap();
    assert_eq!(
        query(&mut con, &["sset", "x", "100"]),
        code(RespCode::OverwriteError)
    );
}

#[test]
fn sset_of_three_new_pairs_is_okay() {
    let (_server, mut con) = fresh();
    assert!(con
        .sset(vec!["x", "y", "z"], vec!["100", "200", "300"])
        .unwrap());
    assert_eq!(
        con.mget(vec!["x", "y", "z"]).unwrap(),
        vec![string("100"), string("200"), string("300")]
    );
}

#[test]
fn sset_with_one_existing_key_writes_nothing() {
    let (_server, mut con) = fresh();
    assert!(con
        .sset(vec!["x", "y", "z"], vec!["100", "200", "300"])
        .unwrap());
    assert!(!con
        .sset(vec!["x", "y", "b", "z"], vec!["1", "2", "3", "4"])
        .unwrap());
    assert_eq!(query(&mut con, &["get", "b"]), code(RespCode::NotFound));
    assert_eq!(con.get("x").unwrap(), "100");
}

#[test]
fn sset_with_wrong_arity_is_action_error() {
    let (_server, mut con) = fresh();
    assert_eq!(query(&mut con, &["sset"]), code(RespCode::ActionError));
    assert_eq!(
        query(&mut con, &["sset", "x", "y", "z"]),
        code(RespCode::ActionError)
    );
}

// ---- SUPDATE -----------------------------------------------------------------------------

#[test]
fn supdate_of_an_existing_key_is_okay() {
    let (_server, mut con) = fresh();
    assert!(con.sset(vec!["x"], vec!["100"]).unwrap());
    assert_eq!(
        query(&mut con, &["supdate", "x", "200"]),
        code(RespCode::Okay)
    );
    assert_eq!(con.get("x").unwrap(), "200");
}

#[test]
fn supdate_of_a_missing_key_is_not_found() {
    let (_server, mut con) = fresh();
    assert_eq!(
        query(&mut con, &["supdate", "x", "200"]),
        code(RespCode::NotFound)
    );
}

#[test]
fn supdate_of_three_existing_keys_is_okay() {
    let (_server, mut con) = fresh();
    assert!(con
        .sset(vec!["x", "y", "z"], vec!["100", "200", "300"])
        .unwrap());
    assert!(con
        .supdate(vec!["x", "y", "z"], vec!["1", "2", "3"])
        .unwrap());
    assert_eq!(
        con.mget(vec!["x", "y", "z"]).unwrap(),
        vec![string("1"), string("2"), string("3")]
    );
}

#[test]
fn supdate_of_absent_keys_is_not_found() {
    let (_server, mut con) = fresh();
    assert!(!con
        .supdate(vec!["x", "y", "z"], vec!["1", "2", "3"])
        .unwrap());
    assert_eq!(con.dbsize().unwrap(), 0);
}

#[test]
fn supdate_with_one_missing_key_writes_nothing() {
    let (_server, mut con) = fresh();
    assert!(con.sset(vec!["x", "y"], vec!["100", "200"]).unwrap());
    assert!(!con
        .supdate(vec!["x", "nope", "y"], vec!["1", "2", "3"])
        .unwrap());
    assert_eq!(
        con.mget(vec!["x", "y", "nope"]).unwrap(),
        vec![string("100"), string("200"), code(RespCode::NotFound)]
    );
}

#[test]
fn supdate_with_wrong_arity_is_action_error() {
    let (_server, mut con) = fresh();
    assert_eq!(query(&mut con, &["supdate"]), code(RespCode::ActionError));
    assert_eq!(
        query(&mut con, &["supdate", "x", "y", "z"]),
        code(RespCode::ActionError)
    );
}

// ---- SDEL --------------------------------------------------------------------------------

#[test]
fn sdel_of_a_missing_key_is_not_found() {
    let (_server, mut con) = fresh();
    assert_eq!(query(&mut con, &["sdel", "x"]), code(RespCode::NotFound));
}

#[test]
fn sdel_of_an_existing_key_is_okay() {
    let (_server, mut con) = fresh();
    assert!(con.sset(vec!["x"], vec!["100"]).unwrap());
    assert_eq!(query(&mut con, &["sdel", "x"]), code(RespCode::Okay));
    assert_eq!(con.dbsize().unwrap(), 0);
}

#[test]
fn sdel_of_three_existing_keys_is_okay() {
    let (_server, mut con) = fresh();
    assert!(con
        .sset(vec!["x", "y", "z"], vec!["100", "200", "300"])
        .unwrap());
    assert!(con.sdel(vec!["x", "y", "z"]).unwrap());
    assert_eq!(con.dbsize().unwrap(), 0);
}

#[test]
fn sdel_of_absent_keys_is_not_found() {
    let (_server, mut con) = fresh();
    assert!(!con.sdel(vec!["x", "y", "z"]).unwrap());
}

#[test]
fn sdel_with_one_missing_key_removes_nothing() {
    let (_server, mut con) = fresh();
    assert!(con.sset(vec!["x", "y"], vec!["100", "200"]).unwrap());
    assert!(!con.sdel(vec!["x", "nope", "y"]).unwrap());
    assert_eq!(con.dbsize().unwrap(), 2);
}

#[test]
fn sdel_without_keys_is_action_error() {
    let (_server, mut con) = fresh();
    assert_eq!(query(&mut con, &["sdel"]), code(RespCode::ActionError));
}

// ---- DBSIZE / FLUSHDB --------------------------------------------------------------------

#[test]
fn dbsize_counts_keys() {
    let (_server, mut con) = fresh();
    assert_eq!(con.dbsize().unwrap(), 0);
    assert!(con
        .sset(vec!["x", "y", "z"], vec!["100", "200", "300"])
        .unwrap());
    assert_eq!(con.dbsize().unwrap(), 3);
}

#[test]
fn dbsize_with_arguments_is_action_error() {
    let (_server, mut con) = fresh();
    assert_eq!(
        query(&mut con, &["dbsize", "x", "y"]),
        code(RespCode::ActionError)
    );
}

#[test]
fn flushdb_removes_every_key() {
    let (_server, mut con) = fresh();
    assert!(con
        .sset(vec!["x", "y", "z"], vec!["100", "200", "300"])
        .unwrap());
    assert_eq!(query(&mut con, &["flushdb"]), code(RespCode::Okay));
    assert_eq!(con.dbsize().unwrap(), 0);
    con.flushdb().unwrap();
}

#[test]
fn flushdb_with_arguments_is_action_error() {
    let (_server, mut con) = fresh();
    con.set("x", "1").unwrap();
    assert_eq!(
        query(&mut con, &["flushdb", "x", "y", "z"]),
        code(RespCode::ActionError)
    );
    assert_eq!(con.dbsize().unwrap(), 1);
}

// ---- USET --------------------------------------------------------------------------------

#[test]
fn uset_counts_every_pair_whether_new_or_not() {
    let (_server, mut con) = fresh();
    assert_eq!(
        con.uset(vec!["x", "y", "z"], vec!["100", "200", "300"])
            .unwrap(),
        3
    );
    assert_eq!(
        con.uset(vec!["x", "y", "z"], vec!["1", "2", "3"]).unwrap(),
        3
    );
    assert_eq!(
        con.mget(vec!["x", "y", "z"]).unwrap(),
        vec![string("1"), string("2"), string("3")]
    );
}

#[test]
fn uset_with_wrong_arity_is_action_error() {
    let (_server, mut con) = fresh();
    assert_eq!(query(&mut con, &["uset"]), code(RespCode::ActionError));
    assert_eq!(
        query(&mut con, &["uset", "x", "y", "z"]),
        code(RespCode::ActionError)
    );
}

// ---- KEYLEN ------------------------------------------------------------------------------

#[test]
fn keylen_is_the_value_length() {
    let (_server, mut con) = fresh();
    con.set("x", "helloworld").unwrap();
    assert_eq!(con.keylen("x").unwrap(), 10);
}

#[test]
fn keylen_of_a_missing_key_is_not_found() {
    let (_server, mut con) = fresh();
    assert_eq!(query(&mut con, &["keylen", "x"]), code(RespCode::NotFound));
}

#[test]
fn keylen_with_wrong_arity_is_action_error() {
    let (_server, mut con) = fresh();
    assert_eq!(query(&mut con, &["keylen"]), code(RespCode::ActionError));
    assert_eq!(
        query(&mut con, &["keylen", "x", "y"]),
        code(RespCode::ActionError)
    );
}

// ---- MKSNAP (snapshots disabled on the test server) --------------------------------------

#[test]
fn mksnap_reports_snapshots_disabled() {
    let (_server, mut con) = fresh();
    assert!(matches!(con.mksnap().unwrap(), SnapshotResult::Disabled));
}

#[test]
fn mksnap_with_a_rooted_name_is_an_invalid_name() {
    let (_server, mut con) = fresh();
    assert_eq!(
        query(&mut con, &["mksnap", "/var/omgcrazysnappy"]),
        code(RespCode::ErrorString(
            "err-invalid-snapshot-name".to_owned()
        ))
    );
}

#[test]
fn mksnap_with_a_parent_name_is_an_invalid_name() {
    let (_server, mut con) = fresh();
    assert_eq!(
        query(&mut con, &["mksnap", "../omgbacktoparent"]),
        code(RespCode::ErrorString(
            "err-invalid-snapshot-name".to_owned()
        ))
    );
}

#[test]
fn mksnap_with_two_names_is_action_error() {
    let (_server, mut con) = fresh();
    assert_eq!(
        query(&mut con, &["mksnap", "a", "b"]),
        code(RespCode::ActionError)
    );
}

// ---- LSKEYS ------------------------------------------------------------------------------

fn sorted(mut keys: Vec<String>) -> Vec<String> {
    keys.sort();
    keys
}

fn six_keys(con: &mut skytable::Connection) {
    assert_eq!(
        con.uset(
            vec!["x", "y", "z", "a", "b", "c"],
            vec!["ex", "why", "zed", "a", "bee", "sea"]
        )
        .unwrap(),
        6
    );
}

#[test]
fn lskeys_lists_every_key() {
    let (_server, mut con) = fresh();
    six_keys(&mut con);
    let Element::FlatArray(keys) = query(&mut con, &["lskeys"]) else {
        panic!("LSKEYS did not answer a flat array");
    };
    assert_eq!(sorted(keys), vec!["a", "b", "c", "x", "y", "z"]);
}

#[test]
fn lskeys_with_a_large_limit_lists_every_key() {
    let (_server, mut con) = fresh();
    six_keys(&mut con);
    assert_eq!(
        sorted(con.lskeys(1000).unwrap()),
        vec!["a", "b", "c", "x", "y", "z"]
    );
}

#[test]
fn lskeys_defaults_to_ten_keys() {
    let (_server, mut con) = fresh();
    let keys: Vec<String> = (0..15).map(|i| format!("key{i:02}")).collect();
    assert_eq!(con.uset(keys.clone(), keys.clone()).unwrap(), 15);
    let Element::FlatArray(listed) = query(&mut con, &["lskeys"]) else {
        panic!("LSKEYS did not answer a flat array");
    };
    assert_eq!(listed.len(), 10, "listed: {listed:?}");
    let mut unique = sorted(listed.clone());
    unique.dedup();
    assert_eq!(unique.len(), 10, "duplicates in {listed:?}");
    assert!(listed.iter().all(|key| keys.contains(key)), "{listed:?}");
}

#[test]
fn lskeys_with_a_small_limit_lists_that_many() {
    let (_server, mut con) = fresh();
    six_keys(&mut con);
    let listed = con.lskeys(4).unwrap();
    assert_eq!(listed.len(), 4, "listed: {listed:?}");
}

#[test]
fn lskeys_with_a_non_numeric_limit_is_wrongtype() {
    let (_server, mut con) = fresh();
    assert_eq!(
        query(&mut con, &["lskeys", "abcdefg"]),
        code(RespCode::Wrongtype)
    );
}

#[test]
fn lskeys_with_two_arguments_is_action_error() {
    let (_server, mut con) = fresh();
    assert_eq!(
        query(&mut con, &["lskeys", "1", "2"]),
        code(RespCode::ActionError)
    );
}

// ---- POP ---------------------------------------------------------------------------------

#[test]
fn pop_without_keys_is_action_error() {
    let (_server, mut con) = fresh();
    assert_eq!(query(&mut con, &["pop"]), code(RespCode::ActionError));
}

#[test]
fn pop_returns_and_removes_values() {
    let (_server, mut con) = fresh();
    mset_xyz(&mut con);
    assert_eq!(
        con.pop(vec!["x", "y", "z"]).unwrap(),
        vec![string("100"), string("200"), string("300")]
    );
    assert_eq!(con.dbsize().unwrap(), 0);
}

#[test]
fn pop_marks_missing_keys_not_found() {
    let (_server, mut con) = fresh();
    mset_xyz(&mut con);
    assert_eq!(
        con.pop(vec!["apple", "arnold", "x", "madonna", "y", "z"])
            .unwrap(),
        vec![
            code(RespCode::NotFound),
            code(RespCode::NotFound),
            string("100"),
            code(RespCode::NotFound),
            string("200"),
            string("300")
        ]
    );
}

// ---- values the client can carry -----------------------------------------------------------

#[test]
fn values_with_spaces_newlines_and_unicode_round_trip() {
    let (_server, mut con) = fresh();
    let value = "hello world\nsecond line — ünïcødé ✓";
    con.set("k e y", value).unwrap();
    assert_eq!(con.get("k e y").unwrap(), value);
    assert_eq!(con.keylen("k e y").unwrap(), value.len());
}
