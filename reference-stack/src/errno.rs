//! Errors of the socket API, as errno values with Linux's numbers so the script
//! engine can compare them with the kernel target's.

use core::fmt;

macro_rules! errnos {
    ($($name:ident = $num:expr, $text:expr;)*) => {
        /// An errno. Numbers are Linux's (asm-generic/errno*.h).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        #[allow(clippy::upper_case_acronyms)]
        pub enum Errno { $($name),* }

        impl Errno {
            pub const ALL: &'static [Errno] = &[$(Errno::$name),*];
            pub fn number(self) -> i32 { match self { $(Errno::$name => $num),* } }
            pub fn name(self) -> &'static str { match self { $(Errno::$name => stringify!($name)),* } }
            pub fn description(self) -> &'static str { match self { $(Errno::$name => $text),* } }
            pub fn from_name(s: &str) -> Option<Errno> {
                match s { $(stringify!($name) => Some(Errno::$name),)* "EWOULDBLOCK" => Some(Errno::EAGAIN), _ => None }
            }
            pub fn from_number(n: i32) -> Option<Errno> {
                Errno::ALL.iter().copied().find(|e| e.number() == n)
            }
        }
    };
}

errnos! {
    EPERM = 1, "operation not permitted";
    ENOENT = 2, "no such file or directory";
    EIO = 5, "input/output error";
    EBADF = 9, "bad file descriptor";
    EAGAIN = 11, "resource temporarily unavailable";
    ENOMEM = 12, "cannot allocate memory";
    EFAULT = 14, "bad address";
    EINVAL = 22, "invalid argument";
    EMFILE = 24, "too many open files";
    EPIPE = 32, "broken pipe";
    ENOTSOCK = 88, "socket operation on non-socket";
    EDESTADDRREQ = 89, "destination address required";
    ENOPROTOOPT = 92, "protocol not available";
    EOPNOTSUPP = 95, "operation not supported";
    EAFNOSUPPORT = 97, "address family not supported by protocol";
    EADDRINUSE = 98, "address already in use";
    EADDRNOTAVAIL = 99, "cannot assign requested address";
    ENETUNREACH = 101, "network is unreachable";
    ECONNABORTED = 103, "software caused connection abort";
    ECONNRESET = 104, "connection reset by peer";
    EISCONN = 106, "transport endpoint is already connected";
    ENOTCONN = 107, "transport endpoint is not connected";
    ETIMEDOUT = 110, "connection timed out";
    ECONNREFUSED = 111, "connection refused";
    EHOSTUNREACH = 113, "no route to host";
    EALREADY = 114, "operation already in progress";
    EINPROGRESS = 115, "operation now in progress";
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.description())
    }
}

impl std::error::Error for Errno {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(Errno::ECONNREFUSED.number(), 111);
        assert_eq!(Errno::from_name("EWOULDBLOCK"), Some(Errno::EAGAIN));
        assert_eq!(Errno::from_number(104), Some(Errno::ECONNRESET));
        for e in Errno::ALL {
            assert_eq!(Errno::from_name(e.name()), Some(*e));
        }
    }
}
