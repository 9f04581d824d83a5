//! Runs the real `selfbill` binary and asserts how it ended. A few lines of
//! our own instead of assert_cmd, whose dependencies (predicates, bstr, a
//! regex engine) cost every clean build more than these tests need.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The `selfbill` binary cargo built for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_selfbill"))
}

/// A command line to run, with an optional time limit.
pub struct Command {
    cmd: std::process::Command,
    timeout: Option<Duration>,
}

impl Command {
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Command {
            cmd: std::process::Command::new(program),
            timeout: None,
        }
    }

    /// The `selfbill` binary.
    pub fn selfbill() -> Self {
        Command::new(binary())
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.arg(arg);
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env(key, value);
        self
    }

    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env_remove(key);
        self
    }

    pub fn env_clear(&mut self) -> &mut Self {
        self.cmd.env_clear();
        self
    }

    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Kills the process when it runs longer than `limit`; its exit status
    /// then has no code, and every `code` or `success` assertion fails.
    pub fn timeout(&mut self, limit: Duration) -> &mut Self {
        self.timeout = Some(limit);
        self
    }

    /// Runs to the end with no input, capturing stdout and stderr.
    pub fn output(&mut self) -> std::io::Result<Output> {
        let mut child = self
            .cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let status = wait(&mut child, self.timeout)?;
        Ok(Output {
            status,
            stdout: stdout.join().expect("stdout read"),
            stderr: stderr.join().expect("stderr read"),
        })
    }

    /// Runs to the end; panics, naming the command, if it cannot start.
    pub fn assert(&mut self) -> Assert {
        let output = self
            .output()
            .unwrap_or_else(|e| panic!("{:?} did not start: {e}", self.cmd));
        Assert {
            command: format!("{:?}", self.cmd),
            output,
        }
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            pipe.read_to_end(&mut bytes).expect("pipe reads");
        }
        bytes
    })
}

fn wait(child: &mut Child, timeout: Option<Duration>) -> std::io::Result<ExitStatus> {
    let Some(limit) = timeout else {
        return child.wait();
    };
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            child.kill()?;
            return child.wait();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How a command ended, with its output.
pub struct Assert {
    command: String,
    output: Output,
}

impl Assert {
    pub fn get_output(&self) -> &Output {
        &self.output
    }

    /// Exit status 0, or a panic showing the command, its status and output.
    pub fn success(self) -> Self {
        if !self.output.status.success() {
            self.fail("a successful exit");
        }
        self
    }

    /// Exit code `code`, or a panic showing the command, its status and output.
    pub fn code(self, code: i32) -> Self {
        if self.output.status.code() != Some(code) {
            self.fail(&format!("exit code {code}"));
        }
        self
    }

    fn fail(&self, expected: &str) -> ! {
        panic!(
            "expected {expected} of {}\nstatus: {}\n--- stdout\n{}\n--- stderr\n{}",
            self.command,
            self.output.status,
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr),
        )
    }
}
