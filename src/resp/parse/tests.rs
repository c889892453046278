//! The parser against the requests and errors Redis 7.0.15 was seen to give, whole, cut at
//! every byte, and fed a byte at a time.

use super::*;

const LIMIT: usize = 1 << 20;

fn args(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|part| part.to_vec()).collect()
}

/// Well-formed requests and their arguments (none: a request with nothing to execute).
fn valid_examples() -> Vec<(&'static [u8], Vec<Vec<u8>>)> {
    vec![
        (b"*1\r\n$4\r\nPING\r\n", args(&[b"PING"])),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n",
            args(&[b"SET", b"k", b""]),
        ),
        (
            b"*2\r\n$3\r\nGET\r\n$2\r\n\xff\x00\r\n",
            args(&[b"GET", b"\xff\x00"]),
        ),
        // Redis skips the byte after a count line's CR and the two after a bulk unread.
        (b"*1\rX$4\r\nPINGxx", args(&[b"PING"])),
        (b"*0\r\n", args(&[])),
        (b"*-1\r\n", args(&[])),
        (b"*-5\r\n", args(&[])),
        (b"PING\r\n", args(&[b"PING"])),
        (b"PING\n", args(&[b"PING"])),
        (b"\r\n", args(&[])),
        (b"\n", args(&[])),
        (b"  \t \r\n", args(&[])),
        (b"set  a   b\r\n", args(&[b"set", b"a", b"b"])),
        (b"set \"x y\" \"1 2\"\r\n", args(&[b"set", b"x y", b"1 2"])),
        (b"set \"a\\x41\\n\\q\" ''\n", args(&[b"set", b"aA\nq", b""])),
        (b"get 'it\\'s'\n", args(&[b"get", b"it's"])),
        (b"get a\"b c\"\n", args(&[b"get", b"ab c"])),
        (b"get \"\\x4\"\n", args(&[b"get", b"x4"])),
        (b"get a\x00b c\n", args(&[b"get", b"a"])),
        (b"get \x0ba\n", args(&[b"get", b"a"])),
        (b"PING\r\r\n", args(&[b"PING"])),
    ]
}

/// Malformed requests and the error each must give.
fn malformed_examples() -> Vec<(&'static [u8], ProtocolError)> {
    use ProtocolError::*;
    vec![
        (b"*x\r\n", InvalidMultibulkLength),
        (b"*\r\n", InvalidMultibulkLength),
        (b"*01\r\n", InvalidMultibulkLength),
        (b"*+1\r\n", InvalidMultibulkLength),
        (b"*2147483648\r\n", InvalidMultibulkLength),
        (b"*99999999999999999999\r\n", InvalidMultibulkLength),
        (b"*1\r\n+4\r\n", ExpectedDollar { got: b'+' }),
        (b"*1\r\nPING\r\n", ExpectedDollar { got: b'P' }),
        (b"*1\r\n$-1\r\n", InvalidBulkLength),
        (b"*1\r\n$04\r\nPING\r\n", InvalidBulkLength),
        (b"*1\r\n$x\r\n", InvalidBulkLength),
        (b"*1\r\n$536870913\r\n", InvalidBulkLength),
        (b"get \"abc\r\n", UnbalancedQuotes),
        (b"get \"a\"b\r\n", UnbalancedQuotes),
        (b"get a\"b c\"d\r\n", UnbalancedQuotes),
        (b"get 'a'b\n", UnbalancedQuotes),
        (b"*2147483647\r\n", TooLarge { limit: LIMIT }),
        (b"*1\r\n$1048576\r\n", TooLarge { limit: LIMIT }),
    ]
}

fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

#[test]
fn valid_examples_parse_to_their_arguments() {
    for (bytes, expected) in valid_examples() {
        assert_eq!(
            parse(bytes, LIMIT),
            Ok(Some((expected, bytes.len()))),
            "{}",
            show(bytes)
        );
    }
}

#[test]
fn every_cut_of_a_valid_request_needs_more_bytes() {
    for (bytes, _) in valid_examples() {
        for cut in 0..bytes.len() {
            assert_eq!(
                parse(&bytes[..cut], LIMIT),
                Ok(None),
                "cut at {cut} of {}",
                show(bytes)
            );
        }
    }
}

#[test]
fn every_cut_of_a_malformed_request_is_incomplete_or_the_same_error() {
    for (bytes, error) in malformed_examples() {
        assert_eq!(parse(bytes, LIMIT), Err(error), "{}", show(bytes));
        for cut in 0..bytes.len() {
            let verdict = parse(&bytes[..cut], LIMIT);
            assert!(
                verdict == Ok(None) || verdict == Err(error),
                "cut at {cut} of {}: {verdict:?}",
                show(bytes)
            );
        }
    }
}

#[test]
fn resumed_parsing_matches_single_shot() {
    for (bytes, expected) in valid_examples() {
        let mut parser = RequestParser::new(LIMIT);
        let verdict = (1..=bytes.len())
            .map(|fed| parser.parse(&bytes[..fed]))
            .find(|verdict| *verdict != Ok(None));
        assert_eq!(verdict, Some(Ok(Some(bytes.len()))), "{}", show(bytes));
        let got: Vec<Vec<u8>> = parser.args(bytes).iter().map(<[u8]>::to_vec).collect();
        assert_eq!(got, expected);
    }
}

#[test]
fn the_error_replies_are_redis_texts() {
    let replies: Vec<String> = malformed_examples()
        .iter()
        .map(|(_, error)| error.reply())
        .collect();
    assert!(replies.contains(&"ERR Protocol error: invalid multibulk length".to_owned()));
    assert!(replies.contains(&"ERR Protocol error: expected '$', got '+'".to_owned()));
    assert!(replies.contains(&"ERR Protocol error: invalid bulk length".to_owned()));
    assert!(replies.contains(&"ERR Protocol error: unbalanced quotes in request".to_owned()));
    assert_eq!(
        ProtocolError::TooBigInline.reply(),
        "ERR Protocol error: too big inline request"
    );
    assert_eq!(
        ProtocolError::ExpectedDollar { got: b'\n' }.reply(),
        "ERR Protocol error: expected '$', got ' '"
    );
}

#[test]
fn lines_without_their_end_are_refused_past_64_kib() {
    let mut inline = vec![b'a'; INLINE_MAX_BYTES];
    assert_eq!(parse(&inline, LIMIT), Ok(None));
    inline.push(b'\n');
    assert!(matches!(parse(&inline, LIMIT), Ok(Some(_))));
    inline.insert(0, b'a');
    assert_eq!(parse(&inline, LIMIT), Err(ProtocolError::TooBigInline));
    let mut count = b"*".to_vec();
    count.extend(vec![b'1'; INLINE_MAX_BYTES]);
    assert_eq!(
        parse(&count, LIMIT),
        Err(ProtocolError::TooBigMultibulkCount)
    );
    let mut bulk = b"*1\r\n$".to_vec();
    bulk.extend(vec![b'1'; INLINE_MAX_BYTES]);
    assert_eq!(parse(&bulk, LIMIT), Err(ProtocolError::TooBigBulkCount));
}

#[test]
fn the_limit_counts_received_and_declared_bytes() {
    let request = b"*2\r\n$3\r\nGET\r\n$5\r\nabcde\r\n";
    assert!(matches!(parse(request, request.len()), Ok(Some(_))));
    let limit = request.len() - 1;
    assert_eq!(
        parse(&request[..20], limit),
        Err(ProtocolError::TooLarge { limit })
    );
    assert_eq!(parse(b"*3\r\n", 22), Ok(None));
    assert_eq!(
        parse(b"*3\r\n", 21),
        Err(ProtocolError::TooLarge { limit: 21 })
    );
    assert_eq!(
        parse(b"PING PING PING", 10),
        Err(ProtocolError::TooLarge { limit: 10 })
    );
}

#[test]
fn a_declared_count_does_not_preallocate() {
    let mut parser = RequestParser::new(u32::MAX as usize);
    assert_eq!(parser.parse(b"*100000000\r\n$1\r\nx\r\n"), Ok(None));
    assert!(parser.args.capacity() < 1024);
}

#[test]
fn a_complete_request_leaves_the_next_one_in_the_buffer() {
    let bytes = b"PING\r\n*1\r\n$4\r\nPING\r\n";
    let mut parser = RequestParser::new(LIMIT);
    assert_eq!(parser.parse(bytes), Ok(Some(6)));
    parser.reset();
    assert_eq!(parser.parse(&bytes[6..]), Ok(Some(14)));
    assert_eq!(parser.args(&bytes[6..]).get(0), b"PING");
}
