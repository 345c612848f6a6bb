//! Blocking socket calls on the Linux target, made for real on a thread of
//! their own, as packetdrill does: a blocking `write` wakes when the kernel
//! wakes it (a third of the send buffer free), a blocking fast-open `sendto`
//! sends its data with the handshake's ACK, and a blocking `accept` returns
//! when the kernel's does. Replaying them as retried non-blocking calls
//! differs in exactly those places.
//!
//! The engine's thread starts a call with [`SyscallThread::start`], which
//! waits until the call has either returned or is asleep in the kernel
//! (`/proc/self/task/TID/stat` says `S` while the call is under way), and
//! collects a blocked call's result later with [`SyscallThread::poll`].

use socket2::SockAddr;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A call to make blocking, on the socket behind `fd`.
pub enum Job {
    /// accept4(); the new socket is non-blocking underneath.
    Accept {
        fd: RawFd,
    },
    Connect {
        fd: RawFd,
        addr: SockAddr,
    },
    /// send() or sendto() with these flags (MSG_NOSIGNAL is added).
    Send {
        fd: RawFd,
        data: Vec<u8>,
        flags: i32,
        to: Option<SockAddr>,
    },
    /// recv(); the octets it returned are left in `got`.
    Recv {
        fd: RawFd,
        len: usize,
        flags: i32,
        got: Arc<std::sync::Mutex<Vec<u8>>>,
    },
    /// splice() from the socket `fd` to `out` (a pipe end), no offsets.
    Splice {
        fd: RawFd,
        out: RawFd,
        len: usize,
        flags: u32,
    },
}

/// When a call returned, and what.
pub type Outcome = (Instant, io::Result<i64>);

pub struct SyscallThread {
    jobs: Option<Sender<Job>>,
    results: Receiver<(Instant, io::Result<i64>)>,
    tid: Arc<AtomicI32>,
    in_call: Arc<AtomicBool>,
    /// A call started and not yet collected.
    pending: bool,
}

impl SyscallThread {
    pub fn spawn() -> io::Result<SyscallThread> {
        let (jtx, jrx) = channel::<Job>();
        let (rtx, rrx) = channel();
        let tid = Arc::new(AtomicI32::new(0));
        let in_call = Arc::new(AtomicBool::new(false));
        let (t2, c2) = (tid.clone(), in_call.clone());
        std::thread::Builder::new().name("linux-syscalls".into()).spawn(move || {
            // SAFETY: gettid has no preconditions.
            #[allow(unsafe_code)]
            t2.store(unsafe { libc::gettid() }, Ordering::SeqCst);
            for job in jrx {
                c2.store(true, Ordering::SeqCst);
                let r = run(job);
                let at = Instant::now();
                c2.store(false, Ordering::SeqCst);
                if rtx.send((at, r)).is_err() {
                    break;
                }
            }
        })?;
        Ok(SyscallThread { jobs: Some(jtx), results: rrx, tid, in_call, pending: false })
    }

    pub fn busy(&self) -> bool {
        self.pending
    }

    /// Starts `job`; `Some` (when it returned, what) if it returned at once,
    /// `None` if it blocks. `between` runs while it waits (the target keeps
    /// reading what the stack sends meanwhile, so it is timed when sent).
    pub fn start(&mut self, job: Job, between: &mut dyn FnMut()) -> io::Result<Option<Outcome>> {
        if self.pending {
            return Err(io::Error::other("a blocking call is already under way"));
        }
        self.jobs
            .as_ref()
            .ok_or_else(|| io::Error::other("the syscall thread is gone"))?
            .send(job)
            .map_err(|_| io::Error::other("the syscall thread is gone"))?;
        self.pending = true;
        Ok(self.settle(between))
    }

    /// Waits until the call under way has returned (its result) or is
    /// asleep in the kernel (`None`): a call the kernel has just woken is
    /// given the moment it needs to come back.
    pub fn settle(&mut self, between: &mut dyn FnMut()) -> Option<Outcome> {
        let start = Instant::now();
        loop {
            between();
            if let Some(r) = self.poll() {
                return Some(r);
            }
            // Asleep inside the call: it blocks. (A thread preempted before
            // it reached the kernel is `R`, not `S`.)
            if self.in_call.load(Ordering::SeqCst) && self.sleeping() {
                // Not asleep on its way back with the result either.
                return self.poll();
            }
            if !self.pending || start.elapsed() > Duration::from_millis(200) {
                return None;
            }
            // Sleep, not spin: on a small machine the call's thread needs
            // this CPU to get on with it.
            std::thread::sleep(Duration::from_micros(20));
        }
    }

    /// The result of the call under way, once it has returned.
    pub fn poll(&mut self) -> Option<Outcome> {
        if !self.pending {
            return None;
        }
        match self.results.try_recv() {
            Ok(r) => {
                self.pending = false;
                Some(r)
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                self.pending = false;
                Some((Instant::now(), Err(io::Error::other("the syscall thread is gone"))))
            }
        }
    }

    fn sleeping(&self) -> bool {
        let tid = self.tid.load(Ordering::SeqCst);
        if tid == 0 {
            return false;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")) else { return false };
        // pid (comm) STATE ...; comm may hold spaces and parentheses.
        stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) == Some("S")
    }
}

impl Drop for SyscallThread {
    fn drop(&mut self) {
        // Ends the thread once its call returns (the target shuts the
        // sockets down first, which wakes it).
        self.jobs = None;
    }
}

fn cvt(r: isize) -> io::Result<i64> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as i64)
    }
}

/// Runs `job` on a duplicate of its descriptor switched to blocking (the
/// switch is on the shared file description, and undone after the call).
#[allow(unsafe_code)]
fn run(job: Job) -> io::Result<i64> {
    let fd = match &job {
        Job::Accept { fd }
        | Job::Connect { fd, .. }
        | Job::Send { fd, .. }
        | Job::Recv { fd, .. }
        | Job::Splice { fd, .. } => *fd,
    };
    // SAFETY: dup, fcntl and close on descriptors this thread owns or that
    // the target keeps open while the call is under way; buffers are live
    // for the duration of each call and sized as passed.
    unsafe {
        let d = libc::dup(fd);
        if d < 0 {
            return Err(io::Error::last_os_error());
        }
        let fl = libc::fcntl(d, libc::F_GETFL);
        libc::fcntl(d, libc::F_SETFL, fl & !libc::O_NONBLOCK);
        let r = match &job {
            Job::Accept { .. } => cvt(libc::accept4(
                d,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            ) as isize),
            Job::Connect { addr, .. } => cvt(libc::connect(d, addr.as_ptr().cast(), addr.len()) as isize),
            Job::Send { data, flags, to, .. } => {
                let flags = flags | libc::MSG_NOSIGNAL;
                match to {
                    Some(a) => {
                        cvt(libc::sendto(d, data.as_ptr().cast(), data.len(), flags, a.as_ptr().cast(), a.len()))
                    }
                    None => cvt(libc::send(d, data.as_ptr().cast(), data.len(), flags)),
                }
            }
            Job::Recv { len, flags, got, .. } => {
                let mut buf = vec![0u8; (*len).max(1)];
                let r = cvt(libc::recv(d, buf.as_mut_ptr().cast(), *len, *flags));
                if let Ok(n) = r {
                    buf.truncate((n as usize).min(*len));
                    *got.lock().unwrap_or_else(|p| p.into_inner()) = buf;
                }
                r
            }
            Job::Splice { out, len, flags, .. } => {
                cvt(libc::splice(d, std::ptr::null_mut(), *out, std::ptr::null_mut(), *len, *flags) as _)
            }
        };
        libc::fcntl(d, libc::F_SETFL, fl);
        libc::close(d);
        r
    }
}
