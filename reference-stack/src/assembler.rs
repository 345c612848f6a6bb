//! The out-of-order queue (RFC 9293 3.10.7.4, SHLD-31): segments that arrive
//! above RCV.NXT are held here until the gap before them fills.

use crate::seq::SeqNumber;

/// One contiguous run of held bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub start: SeqNumber,
    pub data: Vec<u8>,
}

impl Block {
    pub fn end(&self) -> SeqNumber {
        self.start + self.data.len() as u32
    }
}

/// Sorted, disjoint, non-adjacent blocks, all at or above the `base` they
/// were inserted against (the caller's RCV.NXT). Where a new segment overlaps
/// held bytes, the bytes already held win (first arrival wins, as in BSD).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assembler {
    blocks: Vec<Block>,
}

/// The assembler would need more blocks than allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyHoles;

impl Assembler {
    pub fn new() -> Self {
        Assembler { blocks: Vec::new() }
    }
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }
    /// Bytes held.
    pub fn held(&self) -> usize {
        self.blocks.iter().map(|b| b.data.len()).sum()
    }
    pub fn clear(&mut self) {
        self.blocks.clear();
    }

    /// Holds `data` starting at `start` (>= `base`). Returns the (start, end)
    /// of the block that now contains it, for the SACK block list.
    pub fn insert(
        &mut self,
        base: SeqNumber,
        start: SeqNumber,
        data: &[u8],
        max_blocks: usize,
    ) -> Result<(SeqNumber, SeqNumber), TooManyHoles> {
        debug_assert!(start >= base);
        let off = |s: SeqNumber| s.wrapping_since(base) as u64;
        let (ns, ne) = (off(start), off(start) + data.len() as u64);
        // Blocks that overlap or touch [ns, ne].
        let first = self.blocks.iter().position(|b| off(b.end()) >= ns).unwrap_or(self.blocks.len());
        let last = self.blocks[first..].iter().position(|b| off(b.start) > ne).map_or(self.blocks.len(), |p| first + p);
        if first == last && self.blocks.len() >= max_blocks {
            return Err(TooManyHoles);
        }
        let ms = self.blocks[first..last].iter().map(|b| off(b.start)).fold(ns, u64::min);
        let me = self.blocks[first..last].iter().map(|b| off(b.end())).fold(ne, u64::max);
        let mut merged = vec![0u8; (me - ms) as usize];
        let at = (ns - ms) as usize;
        merged[at..at + data.len()].copy_from_slice(data);
        for b in &self.blocks[first..last] {
            let at = (off(b.start) - ms) as usize;
            merged[at..at + b.data.len()].copy_from_slice(&b.data);
        }
        let block = Block { start: base + ms as u32, data: merged };
        let range = (block.start, block.end());
        self.blocks.splice(first..last, std::iter::once(block));
        Ok(range)
    }

    /// Removes and returns the bytes that now continue `rcv_nxt`, if the first
    /// block reaches it. Bytes below `rcv_nxt` are discarded.
    pub fn pop_contiguous(&mut self, rcv_nxt: SeqNumber) -> Option<Vec<u8>> {
        let first = self.blocks.first()?;
        if first.start > rcv_nxt {
            return None;
        }
        let b = self.blocks.remove(0);
        if b.end() <= rcv_nxt {
            return self.pop_contiguous(rcv_nxt);
        }
        let skip = rcv_nxt.wrapping_since(b.start) as usize;
        Some(b.data[skip..].to_vec())
    }

    /// Drops everything at or beyond `limit` (used when a FIN fixes the end).
    pub fn truncate_at(&mut self, limit: SeqNumber) {
        self.blocks.retain(|b| b.start < limit);
        if let Some(last) = self.blocks.last_mut() {
            if last.end() > limit {
                let keep = limit.wrapping_since(last.start) as usize;
                last.data.truncate(keep);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> SeqNumber {
        SeqNumber(n)
    }

    #[test]
    fn holes_overlaps_and_first_arrival_wins() {
        let mut a = Assembler::new();
        let base = s(100);
        assert_eq!(a.insert(base, s(110), b"BBBB", 8), Ok((s(110), s(114))));
        assert_eq!(a.insert(base, s(120), b"DDDD", 8), Ok((s(120), s(124))));
        assert_eq!(a.blocks().len(), 2);
        // Overlaps the first block's tail and fills up to the second: one block.
        assert_eq!(a.insert(base, s(112), b"xxCCCCCC", 8), Ok((s(110), s(124))));
        assert_eq!(a.blocks().len(), 1);
        assert_eq!(a.blocks()[0].data, b"BBBBCCCCCCDDDD");
        assert_eq!(a.pop_contiguous(s(100)), None);
        assert_eq!(a.pop_contiguous(s(112)), Some(b"BBCCCCCCDDDD".to_vec()));
        assert!(a.is_empty());
    }

    #[test]
    fn a_fin_cuts_what_lies_at_and_beyond_it() {
        let mut a = Assembler::new();
        let base = s(100);
        a.insert(base, s(110), b"BBBB", 8).unwrap();
        a.insert(base, s(120), b"DDDD", 8).unwrap();
        // A block that starts at the FIN goes entirely (not as an empty block).
        a.truncate_at(s(120));
        assert_eq!(a.blocks(), [Block { start: s(110), data: b"BBBB".to_vec() }]);
        // One that straddles it keeps what lies before it.
        a.truncate_at(s(112));
        assert_eq!(a.blocks(), [Block { start: s(110), data: b"BB".to_vec() }]);
        assert_eq!(a.held(), 2);
        a.clear();
        assert!(a.is_empty() && a.held() == 0);
    }

    #[test]
    fn block_limit_and_wrap() {
        let mut a = Assembler::new();
        let base = s(u32::MAX - 10);
        assert!(a.insert(base, base + 2, b"a", 2).is_ok());
        assert!(a.insert(base, base + 20, b"b", 2).is_ok());
        assert_eq!(a.insert(base, base + 40, b"c", 2), Err(TooManyHoles));
        // Extending an existing block is fine at the limit.
        assert!(a.insert(base, base + 21, b"b", 2).is_ok());
        assert_eq!(a.held(), 3);
        a.truncate_at(base + 21);
        assert_eq!(a.held(), 2);
    }
}
