//! `quilt verify`: replay requests against an unmerged route and its merged deployment and report
//! every answer that differs. Each request goes to the unmerged route, the merged route, then the
//! unmerged route again; JSON fields on which the two unmerged answers disagree (ids, timestamps)
//! are nondeterministic and masked, so only a merged answer that differs where the unmerged route
//! agreed with itself counts as a difference.

use crate::{bench, http, up};
use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Args;
use quilt_bench::Bodies;
use quilt_manifest::Manifest;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Characters of a request or body kept in a report.
const SHOWN_CHARS: usize = 300;

/// Where verification requests come from.
#[derive(Args, Clone, Debug, Default)]
pub struct RequestArgs {
    /// JSON lines, one request body per line (e.g. the `.requests.jsonl` that `quilt profile`
    /// writes beside its graph).
    #[arg(long, value_name = "FILE", conflicts_with = "generator")]
    pub requests: Option<PathBuf>,
    /// Draw request bodies from a workload generator, `<app>/<workflow>` (default: the generator
    /// of the workflow the function enters, if any).
    #[arg(long, value_name = "APP/WORKFLOW")]
    pub generator: Option<String>,
    /// Requests drawn from the generator.
    #[arg(short = 'n', long = "count", default_value_t = 50)]
    pub count: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl RequestArgs {
    /// The request bodies for verifying `function` of `manifest`.
    pub fn bodies(&self, manifest: &Manifest, function: &str) -> Result<Vec<Vec<u8>>> {
        if let Some(file) = &self.requests {
            return read_requests(file);
        }
        let (app, workflow) = match &self.generator {
            Some(g) => match bench::bodies(None, Some(g), self.seed)? {
                Bodies::Workload { app, workflow, .. } => (app, workflow),
                Bodies::Fixed(_) => unreachable!("a generator gives workload bodies"),
            },
            None => {
                let workflow = manifest
                    .workflows
                    .iter()
                    .find(|w| w.entry == function)
                    .map_or(function, |w| w.name.as_str());
                (manifest.name.clone(), workflow.to_string())
            }
        };
        quilt_workloads::bodies(&app, &workflow, self.seed, self.count).with_context(|| {
            format!(
                "no requests for '{function}': give --requests FILE or --generator APP/WORKFLOW"
            )
        })
    }
}

/// Reads a JSON-lines requests file: every non-blank line is one request body, a JSON value.
pub fn read_requests(path: &Path) -> Result<Vec<Vec<u8>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut bodies = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Err(e) = serde_json::from_str::<Value>(line) {
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or_default();
            bail!(
                "{}:{}:{}: not a JSON request body ({message}): {}",
                path.display(),
                i + 1,
                e.column(),
                truncated(line)
            );
        }
        bodies.push(line.as_bytes().to_vec());
    }
    if bodies.is_empty() {
        bail!("{}: no requests (one JSON body per line)", path.display());
    }
    Ok(bodies)
}

/// The bodies as a JSON-lines requests file, or None when one is not JSON.
pub fn requests_jsonl(bodies: &[Vec<u8>]) -> Option<String> {
    let mut out = String::new();
    for body in bodies {
        let value: Value = serde_json::from_slice(body).ok()?;
        let text = std::str::from_utf8(body).ok().filter(|t| !t.contains('\n'));
        out.push_str(&text.map_or_else(|| value.to_string(), str::to_string));
        out.push('\n');
    }
    Some(out)
}

/// One answer of a route: its status and body, or the error that kept it from answering.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    status: Option<u16>,
    body: Bytes,
    error: Option<String>,
}

impl Answer {
    async fn of(url: &str, body: &[u8]) -> Answer {
        match http::post(url, body.to_vec()).await {
            Ok((status, body)) => Answer {
                status: Some(status),
                body,
                error: None,
            },
            Err(e) => Answer {
                status: None,
                body: Bytes::new(),
                error: Some(format!("{e:#}")),
            },
        }
    }

    fn json(&self) -> Option<Value> {
        self.error
            .is_none()
            .then(|| serde_json::from_slice(&self.body).ok())?
    }

    fn shown(&self) -> Shown {
        Shown {
            status: self.status,
            body: truncated(&String::from_utf8_lossy(&self.body)),
            error: self.error.clone(),
        }
    }
}

/// An answer as reported.
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    /// HTTP status (none when no answer came).
    pub status: Option<u16>,
    /// The body (lossy UTF-8, truncated); for an error status, its message.
    pub body: String,
    /// Why no answer came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A request the merged route answered differently.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    /// Its position in the requests, from 1.
    pub index: usize,
    /// The request body (truncated).
    pub request: String,
    /// The unmerged route's (first) answer.
    pub unmerged: Shown,
    /// The merged route's answer.
    pub merged: Shown,
}

/// The outcome of a verification.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// The unmerged route.
    pub unmerged: String,
    /// The route compared with it.
    pub merged: String,
    /// Requests replayed (each sent twice to the unmerged route, once to the merged one).
    pub requests: usize,
    /// Requests answered alike (nondeterministic fields masked).
    pub equal: usize,
    /// Requests answered differently.
    pub different: usize,
    /// Requests the unmerged route answered with two different statuses (not judged).
    pub unstable: usize,
    /// JSON fields whose value differed between the two unmerged answers (array positions as
    /// `[]`), with the number of requests where they did; masked in the comparison.
    pub nondeterministic: BTreeMap<String, usize>,
    /// Every difference.
    pub differences: Vec<Difference>,
}

/// Replays `bodies` against `unmerged` and `merged` on the gateway at `gateway`, one request at a
/// time: unmerged, merged, unmerged.
pub async fn verify(
    gateway: &str,
    unmerged: &str,
    merged: &str,
    bodies: &[Vec<u8>],
) -> Verification {
    let base = gateway.trim_end_matches('/');
    let (u_url, m_url) = (format!("{base}/{unmerged}"), format!("{base}/{merged}"));
    let mut v = Verification {
        unmerged: unmerged.to_string(),
        merged: merged.to_string(),
        requests: bodies.len(),
        equal: 0,
        different: 0,
        unstable: 0,
        nondeterministic: BTreeMap::new(),
        differences: Vec::new(),
    };
    for (i, body) in bodies.iter().enumerate() {
        let first = Answer::of(&u_url, body).await;
        let m = Answer::of(&m_url, body).await;
        let second = Answer::of(&u_url, body).await;
        let (verdict, masked) = judge(&first, &m, &second);
        for path in masked {
            *v.nondeterministic.entry(path).or_default() += 1;
        }
        match verdict {
            Verdict::Equal => v.equal += 1,
            Verdict::Unstable => v.unstable += 1,
            Verdict::Different => {
                v.different += 1;
                v.differences.push(Difference {
                    index: i + 1,
                    request: truncated(&String::from_utf8_lossy(body)),
                    unmerged: first.shown(),
                    merged: m.shown(),
                });
            }
        }
    }
    v
}

#[derive(Debug, PartialEq)]
enum Verdict {
    Equal,
    Different,
    Unstable,
}

/// A step into a JSON value.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Judges the merged answer `m` against two unmerged answers of the same request; also returns
/// the (normalised) paths of the fields on which the unmerged answers disagreed.
fn judge(first: &Answer, m: &Answer, second: &Answer) -> (Verdict, Vec<String>) {
    let same = m == first || m == second;
    if first.status != second.status {
        let verdict = if same {
            Verdict::Equal
        } else {
            Verdict::Unstable
        };
        return (verdict, Vec::new());
    }
    let mut paths = Vec::new();
    if first != second {
        match (first.json(), second.json()) {
            (Some(a), Some(b)) => diff_paths(&a, &b, &mut Vec::new(), &mut paths),
            _ => paths.push(Vec::new()),
        }
    }
    let mut shown: Vec<String> = paths.iter().map(|p| path_name(p)).collect();
    shown.sort();
    shown.dedup();
    if same {
        return (Verdict::Equal, shown);
    }
    let masked = |a: &Answer| {
        a.json().map(|mut v| {
            for p in &paths {
                mask(&mut v, p);
            }
            v
        })
    };
    let alike = m.status == first.status
        && (paths.iter().any(Vec::is_empty)
            || (!paths.is_empty()
                && masked(m).is_some_and(|m| {
                    Some(&m) == masked(first).as_ref() || Some(&m) == masked(second).as_ref()
                })));
    let verdict = if alike {
        Verdict::Equal
    } else {
        Verdict::Different
    };
    (verdict, shown)
}

/// Collects the paths under `at` where `a` and `b` differ (a key present in one only, arrays of
/// different lengths and unequal scalars are differences at their own path).
fn diff_paths(a: &Value, b: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                at.push(Step::Key(k.clone()));
                match y.get(k) {
                    Some(w) => diff_paths(v, w, at, out),
                    None => out.push(at.clone()),
                }
                at.pop();
            }
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                at.push(Step::Key(k.clone()));
                out.push(at.clone());
                at.pop();
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                at.push(Step::Index(i));
                diff_paths(v, w, at, out);
                at.pop();
            }
        }
        _ if a != b => out.push(at.clone()),
        _ => {}
    }
}

/// Nulls the value at `path`, where there is one.
fn mask(v: &mut Value, path: &[Step]) {
    let target = path.iter().try_fold(v, |v, s| match s {
        Step::Key(k) => v.get_mut(k.as_str()),
        Step::Index(i) => v.get_mut(*i),
    });
    if let Some(target) = target {
        *target = Value::Null;
    }
}

/// `$.a.b[].c`: array positions are not named, so one field of every element counts once.
fn path_name(path: &[Step]) -> String {
    let mut s = String::from("$");
    for step in path {
        match step {
            Step::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Step::Index(_) => s.push_str("[]"),
        }
    }
    s
}

fn truncated(s: &str) -> String {
    match s.char_indices().nth(SHOWN_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The verification as text: a summary line, the masked fields and every difference.
pub fn text(v: &Verification) -> String {
    let mut out = format!(
        "verify {} against {}: {} requests, {} equal, {} different, {} unstable\n",
        v.merged, v.unmerged, v.requests, v.equal, v.different, v.unstable
    );
    for (path, n) in &v.nondeterministic {
        out.push_str(&format!(
            "  nondeterministic (masked): {path} in {n} requests\n"
        ));
    }
    let answer = |s: &Shown| match (&s.error, s.status) {
        (Some(e), _) => format!("no answer: {e}"),
        (None, Some(status)) => format!("{status} {}", s.body),
        (None, None) => "no answer".to_string(),
    };
    for d in &v.differences {
        out.push_str(&format!(
            "  request {}: {}\n    {}: {}\n    {}: {}\n",
            d.index,
            d.request,
            v.unmerged,
            answer(&d.unmerged),
            v.merged,
            answer(&d.merged)
        ));
    }
    out
}

/// An error when any verification found a difference.
pub fn check(verifications: &[Verification]) -> Result<()> {
    let failed: Vec<String> = verifications
        .iter()
        .filter(|v| v.different > 0)
        .map(|v| {
            format!(
                "{} answered {} of {} requests differently from {}",
                v.merged, v.different, v.requests, v.unmerged
            )
        })
        .collect();
    if !failed.is_empty() {
        bail!("{}", failed.join("; "));
    }
    Ok(())
}

/// Verifies each `(unmerged, merged)` pair of routes of an app, reached as `reach` says (a platform
/// started for it must hold the merged route), with the requests `requests` gives for the unmerged
/// route.
pub fn verify_pairs(
    manifest: &Manifest,
    reach: &up::ReachArgs,
    requests: &RequestArgs,
    pairs: &[(String, String)],
) -> Result<Vec<Verification>> {
    let bodies = pairs
        .iter()
        .map(|(unmerged, _)| requests.bodies(manifest, unmerged))
        .collect::<Result<Vec<_>>>()?;
    if reach.gateway.is_none() {
        let names: Vec<String> = up::deployables(manifest)?
            .into_iter()
            .map(|d| d.name)
            .collect();
        for route in pairs.iter().flat_map(|(u, m)| [u, m]) {
            if !names.contains(route) {
                bail!(
                    "app '{}' has no function or merged group '{route}' (it has: {}); merge first \
                     with `quilt merge`",
                    manifest.name,
                    names.join(", ")
                );
            }
        }
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let (url, running) = up::reach(manifest, reach).await?;
            let mut out = Vec::new();
            for ((unmerged, merged), bodies) in pairs.iter().zip(&bodies) {
                out.push(verify(&url, unmerged, merged, bodies).await);
            }
            if let Some(app) = running {
                app.shutdown().await;
            }
            Ok(out)
        })
}

/// Arguments of `quilt verify`.
#[derive(Args)]
pub struct VerifyArgs {
    /// The app folder (holds quilt.toml).
    pub app: PathBuf,
    /// The unmerged function (route) to compare.
    #[arg(long)]
    pub function: String,
    /// The route compared with it (default: `<function>-merged`).
    #[arg(long, value_name = "ROUTE")]
    pub against: Option<String>,
    /// The requests replayed.
    #[command(flatten)]
    pub requests: RequestArgs,
    /// How the app is reached.
    #[command(flatten)]
    pub reach: up::ReachArgs,
    /// Print the verification as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `quilt verify`: prints the verification and fails when anything differed.
pub fn run(args: VerifyArgs) -> Result<()> {
    let manifest = Manifest::load(&args.app)?;
    let against = args
        .against
        .clone()
        .unwrap_or_else(|| format!("{}-merged", args.function));
    let pair = (args.function.clone(), against);
    let v = verify_pairs(&manifest, &args.reach, &args.requests, &[pair])?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&v[0])?);
    } else {
        print!("{}", text(&v[0]));
    }
    check(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status: Some(status),
            body: Bytes::from(body.to_string()),
            error: None,
        }
    }

    #[test]
    fn nondeterministic_fields_are_masked_and_the_rest_compared() {
        let a = answer(200, r#"{"id":1,"at":[5,{"t":1}],"x":"same"}"#);
        let b = answer(200, r#"{"id":2,"at":[5,{"t":2}],"x":"same"}"#);
        let m = answer(200, r#"{"id":3,"at":[5,{"t":3}],"x":"same"}"#);
        let (verdict, paths) = judge(&a, &m, &b);
        assert_eq!(verdict, Verdict::Equal);
        assert_eq!(paths, ["$.at[].t", "$.id"]);
        let m = answer(200, r#"{"id":3,"at":[6,{"t":3}],"x":"same"}"#);
        assert_eq!(judge(&a, &m, &b).0, Verdict::Different);
        let m = answer(200, r#"{"at":[5,{"t":3}],"x":"same"}"#);
        assert_eq!(
            judge(&a, &m, &b).0,
            Verdict::Different,
            "a masked field is missing"
        );
        // A field only one unmerged answer has may be missing from the merged answer.
        let c = answer(200, r#"{"id":2,"at":[5,{"t":2}]}"#);
        let m = answer(200, r#"{"id":3,"at":[5,{"t":3}]}"#);
        assert_eq!(
            judge(&a, &m, &c),
            (
                Verdict::Equal,
                vec!["$.at[].t".into(), "$.id".into(), "$.x".into()]
            )
        );
        let m = answer(500, r#"{"id":3,"at":[5,{"t":3}],"x":"same"}"#);
        assert_eq!(judge(&a, &m, &b).0, Verdict::Different);
    }

    #[test]
    fn a_field_of_every_array_element_counts_once() {
        let a = answer(200, r#"{"r":[{"t":1},{"t":1}]}"#);
        let b = answer(200, r#"{"r":[{"t":2},{"t":3}]}"#);
        assert_eq!(judge(&a, &b, &b), (Verdict::Equal, vec!["$.r[].t".into()]));
    }

    #[test]
    fn bytes_statuses_and_errors_are_compared() {
        let a = answer(200, "hello");
        assert_eq!(judge(&a, &a, &a), (Verdict::Equal, vec![]));
        let m = answer(200, "hellO");
        assert_eq!(judge(&a, &m, &a).0, Verdict::Different);
        // Non-JSON bodies that vary between unmerged answers cannot be judged beyond the status.
        let b = answer(200, "hello again");
        assert_eq!(judge(&a, &m, &b), (Verdict::Equal, vec!["$".to_string()]));
        let failed = Answer {
            status: None,
            body: Bytes::new(),
            error: Some("cannot reach".into()),
        };
        assert_eq!(judge(&a, &failed, &a).0, Verdict::Different);
        assert_eq!(judge(&a, &m, &answer(500, "x")).0, Verdict::Unstable);
        assert_eq!(judge(&a, &a, &answer(500, "x")).0, Verdict::Equal);
    }

    #[test]
    fn requests_files_round_trip_and_bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.jsonl");
        let bodies = vec![b"{\"a\":1}".to_vec(), b"{\n\"b\": 2}".to_vec()];
        std::fs::write(&file, requests_jsonl(&bodies).unwrap()).unwrap();
        assert_eq!(
            read_requests(&file).unwrap(),
            [b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()]
        );
        assert!(requests_jsonl(&[b"not json".to_vec()]).is_none());
        std::fs::write(&file, "{\"a\":1}\n\n{\"a\":\n").unwrap();
        let e = format!("{:#}", read_requests(&file).unwrap_err());
        assert!(
            e.starts_with(&format!("{}:3:5: not a JSON", file.display())),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
