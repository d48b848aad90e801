//! Library errors. Each displays as one line that names what is wrong and where.

/// An unreadable or invalid call graph.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The file could not be read.
    #[error("{origin}: cannot read: {message}")]
    Io {
        /// File path or other source name.
        origin: String,
        /// The OS error.
        message: String,
    },
    /// The file is not valid JSON.
    #[error("{origin}:{line}:{column}: JSON syntax error: {message}")]
    Syntax {
        /// File path or other source name.
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// Valid JSON that is not a valid call graph (unknown node, bad weight, cycle, entry, …).
    #[error("{origin}: {message}")]
    Invalid {
        /// File path or other source name.
        origin: String,
        /// What is wrong and where.
        message: String,
    },
}

/// A problem the solver cannot solve as posed.
#[derive(Debug, thiserror::Error)]
pub enum SolverError {
    /// A limit is neither in the graph nor given.
    #[error("no {0}")]
    MissingLimit(&'static str),
    /// A limit is zero, negative or not a number.
    #[error("{0}")]
    BadLimit(String),
    /// One function alone needs more than a limit.
    #[error("infeasible: node {node} needs {resource}={need} > {limit_name}={limit}")]
    NodeTooLarge {
        /// Function name.
        node: String,
        /// `m` or `c`.
        resource: &'static str,
        /// What the node needs.
        need: f64,
        /// `M` or `C`.
        limit_name: &'static str,
        /// The limit.
        limit: f64,
    },
    /// The graph is structurally invalid (it was built in code rather than read from a file).
    #[error("invalid graph: {0}")]
    Graph(String),
}

/// An unreadable or inconsistent plan file, or a failure writing one.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Reading or writing failed.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        message: String,
    },
    /// The file is not valid plan JSON.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// The plan parses but contradicts itself.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is inconsistent.
        message: String,
    },
}
