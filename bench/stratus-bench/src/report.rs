//! Output: the one-line-per-test text and the JSON array of the load mode, and the tables and
//! JSON object of the persistence mode. Formatting only: it measures nothing, and the JSON is
//! written by hand (a handful of numbers and strings does not need a serializer).

use std::fmt::Write;

use crate::load::TestOutcome;
use crate::options::LoadOptions;
use crate::persistence::ServerFigures;
use crate::workload::TestKind;

/// The figures of one load test, in the units they are reported in.
struct LoadFigures {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
    mean_ms: f64,
}

const NANOS_PER_MS: f64 = 1_000_000.0;

impl LoadFigures {
    fn of(outcome: &TestOutcome) -> LoadFigures {
        let seconds = outcome.elapsed.as_secs_f64();
        let percentile = |quantile: f64| outcome.latency.value_at_quantile(quantile) as f64;
        LoadFigures {
            rps: if seconds > 0.0 {
                outcome.answered as f64 / seconds
            } else {
                0.0
            },
            p50_ms: percentile(0.50) / NANOS_PER_MS,
            p99_ms: percentile(0.99) / NANOS_PER_MS,
            p999_ms: percentile(0.999) / NANOS_PER_MS,
            max_ms: outcome.latency.max() as f64 / NANOS_PER_MS,
            mean_ms: outcome.latency.mean() / NANOS_PER_MS,
        }
    }
}

fn keyspace_text(options: &LoadOptions) -> String {
    match options.keyspace {
        Some(keyspace) => format!("keyspace {keyspace}"),
        None => "one key".to_owned(),
    }
}

/// The human result of one test: its line, then any notes about errors.
pub fn load_text(outcome: &TestOutcome, options: &LoadOptions) -> String {
    let figures = LoadFigures::of(outcome);
    let mut text = format!(
        "{}: {:.2} requests/s, p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms, \
         {} errors",
        outcome.kind.name(options.protocol),
        figures.rps,
        figures.p50_ms,
        figures.p99_ms,
        figures.p999_ms,
        figures.max_ms,
        outcome.errors
    );
    if let Some(saves) = &outcome.saves {
        let _ = write!(text, ", {} background saves", saves.completed);
        if let Some(mean) = saves.mean_duration() {
            let _ = write!(text, " (mean {:.3} s)", mean.as_secs_f64());
        }
        if saves.failed > 0 {
            let _ = write!(text, ", {} failed", saves.failed);
        }
    }
    let transport = if options.tls.is_some() { ", TLS" } else { "" };
    if outcome.kind == TestKind::Connect {
        let _ = write!(
            text,
            " ({} connections, {} at once{transport})",
            outcome.settled(),
            options.clients,
        );
    } else {
        let _ = write!(
            text,
            " ({} requests, {} clients, pipeline {}, {} B values, {}{transport})",
            outcome.settled(),
            options.clients,
            options.pipeline,
            options.data_size,
            keyspace_text(options)
        );
    }
    if let Some(reason) = &outcome.stopped {
        let _ = write!(
            text,
            "\n  stopped early: {reason}; {} of {} requests settled",
            outcome.settled(),
            options.requests
        );
    }
    if outcome.connections_lost > 0 {
        let _ = write!(
            text,
            "\n  {} connections lost, {} requests unanswered",
            outcome.connections_lost, outcome.lost
        );
    }
    if let Some(first) = &outcome.first_error {
        let _ = write!(text, "\n  first error: {first}");
    }
    text
}

/// The JSON array of every test: the agreed fields first, then the run's parameters.
pub fn load_json(outcomes: &[TestOutcome], options: &LoadOptions) -> String {
    let mut json = String::from("[");
    for (index, outcome) in outcomes.iter().enumerate() {
        let figures = LoadFigures::of(outcome);
        if index > 0 {
            json.push(',');
        }
        let _ = write!(
            json,
            "\n  {{\"test\":{},\"rps\":{},\"p50_ms\":{},\"p99_ms\":{},\"p999_ms\":{},\
             \"max_ms\":{},\"errors\":{},\"requests\":{},\"mean_ms\":{},\"elapsed_s\":{},\
             \"protocol\":{},\"tls\":{},\"clients\":{},\"pipeline\":{},\"data_size\":{},\
             \"keyspace\":{}",
            json_string(outcome.kind.name(options.protocol)),
            json_number(figures.rps, 2),
            json_number(figures.p50_ms, 3),
            json_number(figures.p99_ms, 3),
            json_number(figures.p999_ms, 3),
            json_number(figures.max_ms, 3),
            outcome.errors,
            outcome.settled(),
            json_number(figures.mean_ms, 3),
            json_number(outcome.elapsed.as_secs_f64(), 6),
            json_string(options.protocol.name()),
            options.tls.is_some(),
            options.clients,
            options.pipeline,
            options.data_size,
            options
                .keyspace
                .map_or("null".to_owned(), |keyspace| keyspace.to_string()),
        );
        if let Some(saves) = &outcome.saves {
            let _ = write!(
                json,
                ",\"background_saves\":{},\"background_saves_failed\":{},\
                 \"background_save_mean_s\":{}",
                saves.completed,
                saves.failed,
                saves
                    .mean_duration()
                    .map_or("null".to_owned(), |mean| json_number(mean.as_secs_f64(), 3))
            );
        }
        let _ = write!(
            json,
            ",\"first_error\":{},\"stopped\":{}}}",
            json_optional_string(outcome.first_error.as_deref()),
            json_optional_string(outcome.stopped.as_deref())
        );
    }
    json.push_str("\n]");
    json
}

/// One persistence figure: its label, JSON name, unit and how to read it, in that unit.
struct Figure {
    label: &'static str,
    key: &'static str,
    unit: &'static str,
    decimals: usize,
    value: fn(&ServerFigures) -> f64,
}

const MIB: f64 = 1024.0 * 1024.0;

const FIGURES: &[Figure] = &[
    Figure {
        label: "fill (pipelined)",
        key: "fill_s",
        unit: "s",
        decimals: 3,
        value: |f| f.fill.as_secs_f64(),
    },
    Figure {
        label: "RSS after fill",
        key: "rss_after_fill_mib",
        unit: "MiB",
        decimals: 1,
        value: |f| f.rss_after_fill as f64 / MIB,
    },
    Figure {
        label: "BGSAVE of the full table",
        key: "bgsave_ms",
        unit: "ms",
        decimals: 1,
        value: |f| f.bgsave.as_secs_f64() * 1000.0,
    },
    Figure {
        label: "fork",
        key: "fork_ms",
        unit: "ms",
        decimals: 2,
        value: |f| f.fork.as_secs_f64() * 1000.0,
    },
    Figure {
        label: "foreground save",
        key: "save_ms",
        unit: "ms",
        decimals: 1,
        value: |f| f.foreground_save.as_secs_f64() * 1000.0,
    },
    Figure {
        label: "data file",
        key: "data_file_mib",
        unit: "MiB",
        decimals: 1,
        value: |f| f.file_bytes as f64 / MIB,
    },
    Figure {
        label: "restart until DBSIZE = N",
        key: "restart_to_dbsize_ms",
        unit: "ms",
        decimals: 1,
        value: |f| f.restart_ready.as_secs_f64() * 1000.0,
    },
    Figure {
        label: "RSS after load",
        key: "rss_after_load_mib",
        unit: "MiB",
        decimals: 1,
        value: |f| f.rss_after_load as f64 / MIB,
    },
];

/// What the figures mean where the two servers are measured differently.
pub const PERSISTENCE_NOTES: &str = "\
BGSAVE: Stratus's last_save_duration_ms (the child's save, as SYS INFO persistence reports it);
        Redis: BGSAVE sent until INFO persistence shows rdb_bgsave_in_progress:0 (polled every 5 ms).
fork: Stratus's last_fork_time_us; Redis's latest_fork_usec.
foreground save: Stratus's save on SIGTERM, from its log line; Redis: SAVE, timed by the client.
restart: from spawning the process until DBSIZE answers N (polled every 2 ms).";

/// The figures of one round, or of the medians, for both servers, with their ratios.
pub fn persistence_table(
    title: &str,
    stratus: &ServerFigures,
    redis: Option<&ServerFigures>,
) -> String {
    let mut text = format!(
        "{title}\n{:<28}{:>14}{:>14}{:>16}\n",
        "", "Stratus", "Redis", "Stratus/Redis"
    );
    for figure in FIGURES {
        let ours = (figure.value)(stratus);
        let theirs = redis.map(|figures| (figure.value)(figures));
        let _ = writeln!(
            text,
            "{:<28}{:>14}{:>14}{:>16}",
            figure.label,
            format!("{ours:.*} {}", figure.decimals, figure.unit),
            theirs.map_or("-".to_owned(), |value| format!(
                "{value:.*} {}",
                figure.decimals, figure.unit
            )),
            ratio(ours, theirs).map_or("-".to_owned(), |ratio| format!("{ratio:.2}")),
        );
    }
    text
}

fn ratio(ours: f64, theirs: Option<f64>) -> Option<f64> {
    theirs
        .filter(|&value| value > 0.0)
        .map(|value| ours / value)
}

/// The median of each figure over `rounds`.
pub fn median_figures(rounds: &[ServerFigures]) -> Option<ServerFigures> {
    use std::time::Duration;
    if rounds.is_empty() {
        return None;
    }
    let duration = |read: fn(&ServerFigures) -> Duration| {
        Duration::from_secs_f64(median(
            rounds.iter().map(|f| read(f).as_secs_f64()).collect(),
        ))
    };
    let count = |read: fn(&ServerFigures) -> u64| {
        median(rounds.iter().map(|f| read(f) as f64).collect()).round() as u64
    };
    Some(ServerFigures {
        fill: duration(|f| f.fill),
        rss_after_fill: count(|f| f.rss_after_fill),
        bgsave: duration(|f| f.bgsave),
        fork: duration(|f| f.fork),
        foreground_save: duration(|f| f.foreground_save),
        file_bytes: count(|f| f.file_bytes),
        restart_ready: duration(|f| f.restart_ready),
        rss_after_load: count(|f| f.rss_after_load),
    })
}

/// The middle value, or the mean of the two middle values; `values` is never empty here.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

/// One round's (or the medians') figures as a JSON object.
fn figures_json(figures: Option<&ServerFigures>) -> String {
    let Some(figures) = figures else {
        return "null".to_owned();
    };
    let fields: Vec<String> = FIGURES
        .iter()
        .map(|figure| {
            format!(
                "\"{}\":{}",
                figure.key,
                json_number((figure.value)(figures), figure.decimals + 1)
            )
        })
        .chain([format!("\"data_file_bytes\":{}", figures.file_bytes)])
        .collect();
    format!("{{{}}}", fields.join(","))
}

/// The whole persistence run as one JSON object.
pub fn persistence_json(
    keys: u64,
    data_size: usize,
    rounds: &[(ServerFigures, Option<ServerFigures>)],
) -> String {
    let stratus: Vec<ServerFigures> = rounds.iter().map(|(ours, _)| *ours).collect();
    let redis: Vec<ServerFigures> = rounds.iter().filter_map(|(_, theirs)| *theirs).collect();
    let stratus_median = median_figures(&stratus);
    let redis_median = median_figures(&redis);
    let round_objects: Vec<String> = rounds
        .iter()
        .map(|(ours, theirs)| {
            format!(
                "{{\"stratus\":{},\"redis\":{}}}",
                figures_json(Some(ours)),
                figures_json(theirs.as_ref())
            )
        })
        .collect();
    let ratios = match (&stratus_median, &redis_median) {
        (Some(ours), Some(theirs)) => {
            let fields: Vec<String> = FIGURES
                .iter()
                .map(|figure| {
                    let value = ratio((figure.value)(ours), Some((figure.value)(theirs)));
                    format!(
                        "\"{}\":{}",
                        figure.key,
                        value.map_or("null".to_owned(), |value| json_number(value, 3))
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        _ => "null".to_owned(),
    };
    format!(
        "{{\"keys\":{keys},\"data_size\":{data_size},\"rounds\":[{}],\
         \"median\":{{\"stratus\":{},\"redis\":{}}},\"ratio_stratus_to_redis\":{ratios}}}",
        round_objects.join(","),
        figures_json(stratus_median.as_ref()),
        figures_json(redis_median.as_ref()),
    )
}

/// A finite number with `decimals` places; JSON has no NaN or infinity, so those become null.
fn json_number(value: f64, decimals: usize) -> String {
    if value.is_finite() {
        format!("{value:.decimals$}")
    } else {
        "null".to_owned()
    }
}

fn json_optional_string(text: Option<&str>) -> String {
    text.map_or("null".to_owned(), json_string)
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_escape_quotes_backslashes_and_controls() {
        assert_eq!(json_string("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }

    #[test]
    fn json_numbers_are_never_nan() {
        assert_eq!(json_number(1.5, 2), "1.50");
        assert_eq!(json_number(f64::NAN, 2), "null");
        assert_eq!(json_number(f64::INFINITY, 2), "null");
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
