//! Every error text the commands send, in one place: Redis 7.0.15's own, byte for byte, and
//! the few that are Stratus's (marked "Ours"). Texts start with their error code (`ERR`,
//! `MISCONF`…) and are written as `-<text>\r\n`.

pub const SYNTAX: &str = "ERR syntax error";
pub const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NOT_AN_INT32: &str =
    "ERR value is out of range, value must between -2147483648 and 2147483647";
pub const INCREMENT_OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const DECREMENT_OVERFLOW: &str = "ERR decrement would overflow";
pub const STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
pub const INVALID_CURSOR: &str = "ERR invalid cursor";
pub const DB_INDEX_OUT_OF_RANGE: &str = "ERR DB index is out of range";
pub const BAD_CLIENT_NAME: &str =
    "ERR Client names cannot contain spaces, newlines or special characters.";
pub const BAD_PROTOCOL_VERSION: &str = "ERR Protocol version is not an integer or out of range";
pub const NOPROTO: &str = "NOPROTO unsupported protocol version";
pub const AUTH_WITHOUT_PASSWORD: &str = "ERR AUTH <password> called without any password \
     configured for the default user. Are you sure your configuration is correct?";
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
/// Redis's `shared.bgsaveerr`: a write while the last save failed.
pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's \
     currently unable to persist to disk. Commands that may modify the data set are disabled, \
     because this instance is configured to report errors during writes if RDB snapshotting \
     fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about \
     the RDB error.";
pub const BGSAVE_IN_PROGRESS: &str = "ERR Background save already in progress";
pub const BGSAVE_OTHER_CHILD: &str = "ERR Another child process is active (AOF?): can't BGSAVE \
     right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.";
/// A SAVE that failed (the cause is in the log and in INFO persistence), as Redis says it.
pub const SAVE_FAILED: &str = "ERR";
/// Ours: there is no expiry; a key with a time to live is refused rather than kept forever.
pub const EXPIRY_UNSUPPORTED: &str =
    "ERR key expiry is not supported: Stratus keeps every key until it is deleted";
/// Ours: the reply would take more memory than the server allows for clients; it is refused
/// before it is built, and the connection stays usable.
pub const REPLY_TOO_LARGE: &str = "ERR reply too large for the client memory budget \
     (--max-client-memory): ask for fewer keys at once (SCAN, fewer MGET keys)";
/// Ours: the last words before the connection is closed because all clients together went
/// over the client memory budget and this one held the most.
pub const CLIENT_MEMORY_LIMIT: &str = "ERR client memory limit reached (--max-client-memory): \
     this connection holds the most, and is closed";
/// Ours: CONFIG SET; Stratus is configured by its flags and configuration file.
pub const CONFIG_SET_UNSUPPORTED: &str =
    "ERR CONFIG SET is not supported: Stratus takes its settings from flags and its configuration file";

/// The longest part of a client's name or argument echoed in an error, as Redis cuts them.
const ECHOED_BYTES: usize = 128;

/// A client's bytes as Redis's `%s` prints them: up to the first NUL (they are C strings to
/// it), at most `limit` bytes.
fn c_string(bytes: &[u8], limit: usize) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end.min(limit)]
}

/// `ERR unknown command 'foo', with args beginning with: 'a' 'b' `: each argument quoted and
/// followed by a space, added while the list is shorter than 128 bytes, each cut to what is
/// left of those 128.
pub fn unknown_command<'a>(name: &[u8], args: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut listed = Vec::new();
    for arg in args {
        if listed.len() >= ECHOED_BYTES {
            break;
        }
        listed.push(b'\'');
        listed.extend_from_slice(c_string(arg, ECHOED_BYTES - listed.len() + 1));
        listed.extend_from_slice(b"' ");
    }
    let mut text = b"ERR unknown command '".to_vec();
    text.extend_from_slice(c_string(name, ECHOED_BYTES));
    text.extend_from_slice(b"', with args beginning with: ");
    text.extend_from_slice(&listed);
    text
}

/// `ERR unknown subcommand 'foo'. Try CLIENT HELP.`: the subcommand as sent, the container's
/// name in capitals.
pub fn unknown_subcommand(container: &[u8], subcommand: &[u8]) -> Vec<u8> {
    let mut text = b"ERR unknown subcommand '".to_vec();
    text.extend_from_slice(c_string(subcommand, ECHOED_BYTES));
    text.extend_from_slice(b"'. Try ");
    text.extend(c_string(container, usize::MAX).to_ascii_uppercase());
    text.extend_from_slice(b" HELP.");
    text
}

/// `ERR wrong number of arguments for 'get' command`, with the table's (lower-case) name.
pub fn wrong_arity(name: &str) -> String {
    format!("ERR wrong number of arguments for '{name}' command")
}

/// `ERR invalid expire time in 'set' command`.
pub fn invalid_expire_time(name: &str) -> String {
    format!("ERR invalid expire time in '{name}' command")
}

/// `ERR Syntax error in HELLO option 'x'`.
pub fn hello_option(option: &[u8]) -> Vec<u8> {
    let mut text = b"ERR Syntax error in HELLO option '".to_vec();
    text.extend_from_slice(c_string(option, usize::MAX));
    text.push(b'\'');
    text
}

/// `ERR Unrecognized option 'x'` (CLIENT SETINFO, as Redis 7.2 says it).
pub fn unrecognized_option(option: &[u8]) -> Vec<u8> {
    let mut text = b"ERR Unrecognized option '".to_vec();
    text.extend_from_slice(c_string(option, usize::MAX));
    text.push(b'\'');
    text
}

/// `ERR lib-name cannot contain spaces, newlines or special characters.` (Redis 7.2).
pub fn bad_client_attribute(attribute: &[u8]) -> Vec<u8> {
    let mut text = b"ERR ".to_vec();
    text.extend_from_slice(c_string(attribute, usize::MAX));
    text.extend_from_slice(b" cannot contain spaces, newlines or special characters.");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_commands_echo_their_arguments_as_redis_does() {
        let text = |name: &[u8], args: &[&[u8]]| {
            String::from_utf8(unknown_command(name, args.iter().copied())).unwrap()
        };
        assert_eq!(
            text(b"foo", &[]),
            "ERR unknown command 'foo', with args beginning with: "
        );
        assert_eq!(
            text(b"foo", &[b"a", b"b"]),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        let a = [b'a'; 100];
        let b = [b'b'; 100];
        assert_eq!(
            text(b"foo", &[&a, &b, b"c"]),
            format!(
                "ERR unknown command 'foo', with args beginning with: '{}' '{}' ",
                "a".repeat(100),
                "b".repeat(25)
            )
        );
        assert_eq!(
            String::from_utf8(unknown_subcommand(b"client", b"foo")).unwrap(),
            "ERR unknown subcommand 'foo'. Try CLIENT HELP."
        );
    }
}
