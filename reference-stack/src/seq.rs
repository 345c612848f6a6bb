//! Sequence numbers: 32-bit, compared modulo 2^32 (RFC 9293 3.4, MUST-1 / REC-1).

use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A TCP sequence number. `a < b` means "a is before b" in the 2^31 window
/// around it, as RFC 9293 3.4 requires; plain integer comparison is wrong
/// across the wrap.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// Distance from `earlier` to `self`, counting forward. Callers use it only
    /// where `earlier <= self` is known; otherwise it is the wrapped distance.
    pub fn wrapping_since(self, earlier: SeqNumber) -> u32 {
        self.0.wrapping_sub(earlier.0)
    }
    /// Signed distance `self - other` (RFC 9293 3.4 modular arithmetic).
    pub fn diff(self, other: SeqNumber) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }
    pub fn max(self, other: SeqNumber) -> SeqNumber {
        if self > other {
            self
        } else {
            other
        }
    }
    pub fn min(self, other: SeqNumber) -> SeqNumber {
        if self < other {
            self
        } else {
            other
        }
    }
    /// `lo <= self < hi`, all modulo 2^32.
    pub fn in_range(self, lo: SeqNumber, hi: SeqNumber) -> bool {
        lo <= self && self < hi
    }
}

impl PartialOrd for SeqNumber {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

impl Add<u32> for SeqNumber {
    type Output = SeqNumber;
    fn add(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n))
    }
}

impl AddAssign<u32> for SeqNumber {
    fn add_assign(&mut self, n: u32) {
        self.0 = self.0.wrapping_add(n);
    }
}

impl Sub<u32> for SeqNumber {
    type Output = SeqNumber;
    fn sub(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(n))
    }
}

impl fmt::Debug for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_wraps() {
        let a = SeqNumber(u32::MAX - 5);
        let b = a + 10;
        assert_eq!(b.0, 4);
        assert!(a < b);
        assert!(b > a);
        assert_eq!(b.wrapping_since(a), 10);
        assert_eq!(a.diff(b), -10);
        assert!(SeqNumber(2).in_range(a, b));
        assert!(!b.in_range(a, b));
    }
}
