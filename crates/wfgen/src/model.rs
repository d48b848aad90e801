//! The random workflow of one seed: a DAG of nodes, each in a language, with a call pattern, a
//! callee naming, a payload and an error policy per edge.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// At most this many nodes per workflow (also the number of levels of the app's functions).
pub const MAX_NODES: usize = 6;

/// Invocations of one node per request, summed over every path from the root, at most this many;
/// edges that would exceed it are made single synchronous calls.
const CALL_BUDGET: u32 = 24;

/// The language a node is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// Rust, through `quilt-sdk`.
    Rust,
    /// C, through `quilt.h`.
    C,
    /// C++, through `quilt.h`'s `quilt::` API.
    Cpp,
}

impl Lang {
    /// The language's name in `quilt.toml` and in function names.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::C => "c",
            Lang::Cpp => "cpp",
        }
    }
}

/// How a caller invokes a callee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// One synchronous invocation.
    Sync,
    /// One asynchronous invocation, awaited after some work of the caller's own.
    Async,
    /// `n` asynchronous invocations in flight together, awaited in reverse order.
    NestedAsync(u32),
    /// `n` synchronous invocations in a loop.
    Loop(u32),
    /// `n` threads (std::thread, pthreads, std::thread), each making one synchronous invocation.
    Threads(u32),
}

impl Pattern {
    /// How many invocations the pattern makes.
    pub fn count(self) -> u32 {
        match self {
            Pattern::Sync | Pattern::Async => 1,
            Pattern::NestedAsync(n) | Pattern::Loop(n) | Pattern::Threads(n) => n,
        }
    }
}

/// What a caller sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// Its own input data.
    Same,
    /// The first bytes of its input data.
    Prefix(usize),
    /// Nothing at all: a zero-length input (the callee answers its empty reply).
    Empty,
    /// This many bytes of filler derived from the caller's state.
    Large(usize),
}

/// What a caller does with a failed invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Fails itself, passing the callee's status and message on.
    Propagate,
    /// Folds the status and message into its reply and goes on.
    Inspect,
}

/// One edge of the workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The callee's index in [`Workflow::nodes`] (also its level).
    pub callee: usize,
    /// The callee's language.
    pub callee_lang: Lang,
    /// How it is invoked.
    pub pattern: Pattern,
    /// Whether the callee's name is built at run time (else a compile-time constant).
    pub runtime_name: bool,
    /// What is sent.
    pub payload: Payload,
    /// What a failure does.
    pub on_error: OnError,
}

/// How a node fails, on inputs whose hash is `residue` modulo `modulo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fail {
    /// Returns this ABI status (Rust: a handler error or a bad-payload error) with a message.
    Status {
        /// The status (C and C++ may return ones outside the ABI's, e.g. 42 or -1).
        status: i32,
        /// The divisor of the input hash.
        modulo: u64,
        /// The remainder that fails.
        residue: u64,
    },
    /// Panics (Rust only; the SDK turns it into an error).
    Panic {
        /// The divisor of the input hash.
        modulo: u64,
        /// The remainder that fails.
        residue: u64,
    },
}

/// Deep stack use of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    /// A 512 KiB local array, filled, held across the node's calls and summed.
    Array,
    /// A recursion this deep with a 4 KiB frame per level.
    Recursion(u32),
}

/// How a node replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Its summary: what it computed and what every call gave it.
    Summary,
    /// Nothing, when its state is 0 modulo this; else the summary.
    EmptyWhen(u64),
    /// Its summary followed by this many bytes of filler.
    Large(usize),
}

/// One member of a workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Its level: its position in a topological order, and the level of the function hosting it.
    pub level: usize,
    /// Its language.
    pub lang: Lang,
    /// Its calls, in the order it makes them.
    pub calls: Vec<Call>,
    /// When it fails.
    pub fail: Option<Fail>,
    /// Deep stack use.
    pub stack: Option<Stack>,
    /// Global initializers (C: constructor functions with these priorities, 0 = default; C++:
    /// namespace-scope objects too); their state is part of the reply.
    pub ctors: Vec<u16>,
    /// Its reply.
    pub reply: Reply,
}

impl Node {
    /// The name of the function that hosts this node: `n<level>-<language>`.
    pub fn function(&self) -> String {
        function_name(self.level, self.lang)
    }
}

/// The name of the function hosting the nodes of one level and language.
pub fn function_name(level: usize, lang: Lang) -> String {
    format!("n{level}-{}", lang.name())
}

/// The workflow of one seed; node 0 is its root and every node is reachable from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workflow {
    /// The seed it was generated from.
    pub seed: u64,
    /// Its nodes, in topological order (node i is at level i).
    pub nodes: Vec<Node>,
}

impl Workflow {
    /// The workflow of `seed` (the same for the same seed, on every machine).
    pub fn generate(seed: u64) -> Workflow {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let count = rng.random_range(3..=MAX_NODES);
        let langs = [Lang::Rust, Lang::C, Lang::Cpp];
        let mut nodes: Vec<Node> = (0..count)
            .map(|level| {
                let lang = langs[rng.random_range(0..3)];
                random_node(&mut rng, level, lang)
            })
            .collect();
        // A parent for every node but the root, then a few extra edges forward.
        let mut edges: Vec<(usize, usize)> =
            (1..count).map(|i| (rng.random_range(0..i), i)).collect();
        for _ in 0..rng.random_range(0..count) {
            let from = rng.random_range(0..count - 1);
            let to = rng.random_range(from + 1..count);
            edges.push((from, to));
        }
        edges.sort();
        // Invocations per request of each node, known once its callers' edges are chosen.
        let mut invocations = vec![0u32; count];
        invocations[0] = 1;
        for (from, to) in edges {
            let callee = (to, nodes[to].lang);
            let call = random_call(&mut rng, callee, invocations[from], invocations[to]);
            invocations[to] += invocations[from] * call.pattern.count();
            nodes[from].calls.push(call);
        }
        for (node, &n) in nodes.iter_mut().zip(&invocations) {
            // Large replies only where they cannot multiply.
            if matches!(node.reply, Reply::Large(_)) && n > 1 {
                node.reply = Reply::Summary;
            }
        }
        Workflow { seed, nodes }
    }
}

fn random_node(rng: &mut ChaCha8Rng, level: usize, lang: Lang) -> Node {
    let fail = match rng.random_range(0..10) {
        0..=3 => None,
        4 | 5 if lang == Lang::Rust => Some(Fail::Panic {
            modulo: rng.random_range(2..=4),
            residue: rng.random_range(0..2),
        }),
        _ => {
            let statuses: &[i32] = match lang {
                Lang::Rust => &[1, 2],
                Lang::C | Lang::Cpp => &[1, 2, 3, 4, 5, 42, -1],
            };
            Some(Fail::Status {
                status: statuses[rng.random_range(0..statuses.len())],
                modulo: rng.random_range(2..=4),
                residue: rng.random_range(0..2),
            })
        }
    };
    let stack = match rng.random_range(0..6) {
        0 => Some(Stack::Array),
        1 => Some(Stack::Recursion(rng.random_range(32..=128))),
        _ => None,
    };
    let ctors = if lang == Lang::Rust {
        Vec::new()
    } else {
        (0..rng.random_range(0..=3))
            .map(|_| {
                if rng.random_bool(0.5) {
                    0
                } else {
                    rng.random_range(101..=400)
                }
            })
            .collect()
    };
    let reply = match rng.random_range(0..8) {
        0 => Reply::EmptyWhen(rng.random_range(2..=3)),
        1 => Reply::Large(rng.random_range(1 << 20..=4 << 20)),
        _ => Reply::Summary,
    };
    Node {
        level,
        lang,
        calls: Vec::new(),
        fail,
        stack,
        ctors,
        reply,
    }
}

/// A random call to `callee` from a caller invoked `caller_n` times per request, keeping the
/// callee's invocations (`callee_n` so far) within [`CALL_BUDGET`].
fn random_call(
    rng: &mut ChaCha8Rng,
    (callee, callee_lang): (usize, Lang),
    caller_n: u32,
    callee_n: u32,
) -> Call {
    let mut pattern = match rng.random_range(0..5) {
        0 => Pattern::Sync,
        1 => Pattern::Async,
        2 => Pattern::NestedAsync(rng.random_range(2..=3)),
        3 => Pattern::Loop(rng.random_range(2..=4)),
        _ => Pattern::Threads(rng.random_range(2..=3)),
    };
    if callee_n + caller_n * pattern.count() > CALL_BUDGET {
        pattern = Pattern::Sync;
    }
    let payload = match rng.random_range(0..6) {
        0 => Payload::Empty,
        1 => Payload::Prefix(rng.random_range(0..64)),
        // Megabytes only where they cannot multiply.
        2 if caller_n * pattern.count() <= 2 => Payload::Large(rng.random_range(1 << 20..=4 << 20)),
        _ => Payload::Same,
    };
    Call {
        callee,
        callee_lang,
        pattern,
        runtime_name: rng.random_bool(0.4),
        payload,
        on_error: if rng.random_bool(0.3) {
            OnError::Propagate
        } else {
            OnError::Inspect
        },
    }
}
