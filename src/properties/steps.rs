//! How the model properties (`actions_vs_model`, `commands_vs_model`) read their bytes: a
//! sequence of steps, each the byte that turns poisoning on or off, or a request: a selector
//! byte picking a name from the property's list (its high bit mixing the name's letter case),
//! a count byte, then one byte per argument picking a word from the property's list. And the
//! inverse, so seeds name their steps. The two properties differ only in their lists.

/// The selector byte that turns poisoning on or off.
const TOGGLE_POISON: u8 = 0xff;
/// A selector with this bit set mixes the letter case of the name it picks.
const MIXED_CASE_BIT: usize = 0x80;
/// The most arguments a step gives a request.
const MAX_ARGS: usize = 6;

/// One step of a model input, named rather than numbered, for writing seeds.
pub enum ModelStep<'a> {
    /// An action (or a command): a name from the generator's list, whether to mix its letter
    /// case, and at most six arguments, each one of the generator's words.
    Action {
        name: &'a str,
        mixed_case: bool,
        args: &'a [&'a [u8]],
    },
    /// Poisoning on (or off again): writes are refused until the next toggle.
    TogglePoison,
}

/// One step as decoded.
pub(super) enum Step<'w> {
    TogglePoison,
    /// The name as sent (its letter case perhaps mixed), then the arguments.
    Request {
        name: String,
        args: Vec<&'w [u8]>,
    },
}

/// `GET` as `gEt`: every other letter lower case, from the first.
fn mix_case(name: &str) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_lowercase()
            } else {
                c
            }
        })
        .collect()
}

/// The next step of `input`, or `None` at its end. Bytes missing at the end count as zeros.
pub(super) fn next_step<'w>(
    input: &mut impl Iterator<Item = u8>,
    names: &[&str],
    words: &[&'w [u8]],
) -> Option<Step<'w>> {
    let selector = input.next()?;
    if selector == TOGGLE_POISON {
        return Some(Step::TogglePoison);
    }
    let selector = usize::from(selector);
    let name = names[selector % names.len()];
    let name = if selector & MIXED_CASE_BIT != 0 {
        mix_case(name)
    } else {
        name.to_owned()
    };
    let count = usize::from(input.next().unwrap_or(0)) % (MAX_ARGS + 1);
    let args = (0..count)
        .map(|_| words[usize::from(input.next().unwrap_or(0)) % words.len()])
        .collect();
    Some(Step::Request { name, args })
}

/// The bytes [`next_step`] decodes into `steps` with these lists. Panics on a name, word or
/// argument count the generator cannot produce.
pub(super) fn encode_steps(steps: &[ModelStep<'_>], names: &[&str], words: &[&[u8]]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for step in steps {
        let (name, mixed_case, args) = match step {
            ModelStep::TogglePoison => {
                bytes.push(TOGGLE_POISON);
                continue;
            }
            ModelStep::Action {
                name,
                mixed_case,
                args,
            } => (name, mixed_case, args),
        };
        let index = names
            .iter()
            .position(|known| known == name)
            .unwrap_or_else(|| panic!("{name} is not among the generator's names"));
        // The smallest selector with the mixed-case bit set or clear, as asked, that names
        // `index`; it stays below TOGGLE_POISON (the lists are shorter than 127 names).
        let base = if *mixed_case { MIXED_CASE_BIT } else { 0 };
        let selector = base + (index + names.len() - base % names.len()) % names.len();
        assert!(
            selector < usize::from(TOGGLE_POISON),
            "too many names to encode"
        );
        assert!(
            args.len() <= MAX_ARGS,
            "a step takes at most {MAX_ARGS} arguments"
        );
        bytes.push(selector as u8);
        bytes.push(args.len() as u8);
        for arg in *args {
            let word = words
                .iter()
                .position(|known| known == arg)
                .unwrap_or_else(|| panic!("{arg:?} is not among the generator's words"));
            bytes.push(word as u8);
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 3] = ["GET", "SET", "DEL"];
    const WORDS: [&[u8]; 3] = [b"a", b"", b"\xff"];

    #[test]
    fn steps_decode_to_what_they_were_encoded_from() {
        let args: [&[u8]; 6] = [b"a", b"", b"\xff", b"a", b"a", b""];
        let steps = [
            ModelStep::Action {
                name: "DEL",
                mixed_case: true,
                args: &args,
            },
            ModelStep::TogglePoison,
            ModelStep::Action {
                name: "GET",
                mixed_case: false,
                args: &[],
            },
        ];
        let bytes = encode_steps(&steps, &NAMES, &WORDS);
        let mut input = bytes.iter().copied();
        let Some(Step::Request {
            name,
            args: decoded,
        }) = next_step(&mut input, &NAMES, &WORDS)
        else {
            panic!("a request first");
        };
        assert_eq!((name.as_str(), decoded.as_slice()), ("dEl", &args[..]));
        assert!(matches!(
            next_step(&mut input, &NAMES, &WORDS),
            Some(Step::TogglePoison)
        ));
        let Some(Step::Request { name, args }) = next_step(&mut input, &NAMES, &WORDS) else {
            panic!("a request last");
        };
        assert_eq!((name.as_str(), args.len()), ("GET", 0));
        assert!(next_step(&mut input, &NAMES, &WORDS).is_none());
    }

    #[test]
    fn a_cut_short_step_reads_zeros() {
        let mut input = [1u8, 2].into_iter();
        let Some(Step::Request { name, args }) = next_step(&mut input, &NAMES, &WORDS) else {
            panic!("a request");
        };
        assert_eq!((name.as_str(), args), ("SET", vec![&b"a"[..], b"a"]));
    }
}
