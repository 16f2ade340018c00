//! `PYTORCH_CUDA_ALLOC_CONF`: the caching allocator's options, parsed with PyTorch's syntax
//! (`c10/core/AllocatorConfig.cpp`, `parseArgs`), so a scenario or a user's environment variable
//! can be pasted as it is.
//!
//! ```
//! use leakharness::alloc::AllocatorConfig;
//!
//! let c: AllocatorConfig = "max_split_size_mb:128,roundup_power2_divisions:[256:1,>:4]"
//!     .parse()
//!     .unwrap();
//! assert_eq!(c.max_split_size, Some(128 << 20));
//! assert_eq!(c.roundup_power2_divisions(64 << 20), 1);
//! assert_eq!(c.roundup_power2_divisions(1 << 30), 4);
//! ```

use std::str::FromStr;

use thiserror::Error;

use super::{LARGE_BUFFER, MIN_BLOCK_SIZE};

const MB: u64 = 1 << 20;
/// `kRoundUpPowerOfTwoIntervals`: one division count per power of two from 1 MiB to 32 GiB.
const INTERVALS: usize = 16;
/// `kRoundUpPowerOfTwoStart` as a power of two: the intervals start at 1 MiB.
const INTERVAL_START_LOG2: u32 = 20;

/// The options of `PYTORCH_CUDA_ALLOC_CONF` that change what the native caching allocator
/// does with memory. The default is PyTorch's with the variable unset.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AllocatorConfig {
    /// `max_split_size_mb`, in bytes: cached blocks of this size or more are never split, and
    /// serve only requests of at least this size. `None`: unlimited (PyTorch's `SIZE_MAX`).
    pub max_split_size: Option<u64>,
    /// `max_non_split_rounding_mb`, in bytes: an oversize block serves a request of at least
    /// `max_split_size` only when it is less than this much larger. `None`: 20 MiB
    /// (`kLargeBuffer`).
    pub max_non_split_rounding: Option<u64>,
    /// `garbage_collection_threshold`, in (0, 1): with a memory limit set, before a new segment
    /// is allocated, cached unsplit large blocks are released, oldest first, until reserved
    /// memory is back under this fraction of the limit. `None`: off.
    pub garbage_collection_threshold: Option<f64>,
    /// `roundup_power2_divisions`: per power of two from 1 MiB (index 0) to 32 GiB and above
    /// (index 15), how many equal parts requests are rounded up to; 0 or 1 keeps 512-byte
    /// rounding.
    pub roundup_power2_divisions: [u64; INTERVALS],
    /// `expandable_segments`: new memory comes from one growing segment per pool, mapped a
    /// page at a time (2 MiB pages for the small pool, 20 MiB for the large one), instead of a
    /// segment per request; every block is split when at least 512 bytes remain.
    pub expandable_segments: bool,
}

/// A `PYTORCH_CUDA_ALLOC_CONF` string PyTorch would refuse, or an option leakharness does not
/// model.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct ConfigError {
    /// What is wrong, worded as PyTorch words it where PyTorch refuses the same string.
    pub message: String,
    /// Byte offset in the string of the token at fault.
    pub offset: usize,
}

impl AllocatorConfig {
    /// `max_split_size()`: `u64::MAX` when unlimited, as PyTorch's `SIZE_MAX`.
    pub fn max_split_size(&self) -> u64 {
        self.max_split_size.unwrap_or(u64::MAX)
    }

    /// `max_non_split_rounding_size()`.
    pub fn max_non_split_rounding(&self) -> u64 {
        self.max_non_split_rounding.unwrap_or(LARGE_BUFFER)
    }

    /// `roundup_power2_divisions(size)`: the division count of the power-of-two interval that
    /// holds `size` (below 1 MiB the first interval's, from 32 GiB on the last one's).
    pub fn roundup_power2_divisions(&self, size: u64) -> u64 {
        let log = 63 - size.max(1).leading_zeros();
        let index = log.saturating_sub(INTERVAL_START_LOG2) as usize;
        self.roundup_power2_divisions[index.min(INTERVALS - 1)]
    }

    /// `round_size`: the size a request is rounded up to under these options, or `None` when
    /// that overflows.
    ///
    /// ```
    /// use leakharness::alloc::AllocatorConfig;
    /// let c: AllocatorConfig = "roundup_power2_divisions:4".parse().unwrap();
    /// // Between 1 MiB and 2 MiB the sizes are 1, 1.25, 1.5 and 1.75 MiB.
    /// assert_eq!(c.round_size(1_100_000), Some(1_310_720));
    /// // Below 512 × 4 bytes rounding stays at 512 bytes.
    /// assert_eq!(c.round_size(1500), Some(1536));
    /// ```
    pub fn round_size(&self, size: u64) -> Option<u64> {
        if size < MIN_BLOCK_SIZE {
            return Some(MIN_BLOCK_SIZE);
        }
        let divisions = self.roundup_power2_divisions(size);
        if divisions > 1 && size > MIN_BLOCK_SIZE * divisions {
            roundup_power2_next_division(size, divisions)
        } else {
            size.checked_next_multiple_of(MIN_BLOCK_SIZE)
        }
    }
}

/// `roundup_power2_next_division`: `size` rounded up to the next of `divisions` equal steps
/// between the powers of two around it.
fn roundup_power2_next_division(size: u64, divisions: u64) -> Option<u64> {
    if size.is_power_of_two() {
        return Some(size);
    }
    let floor = 1u64 << (63 - size.leading_zeros());
    let step = floor >> (63 - divisions.leading_zeros());
    if step == 0 {
        return floor.checked_mul(2);
    }
    let rounded_down = size & !(step - 1);
    if rounded_down == size {
        Some(size)
    } else {
        rounded_down.checked_add(step)
    }
}

/// One lexed token: PyTorch's `lexArgs` splits on `,` `:` `[` `]` (each its own token) and
/// drops spaces.
#[derive(Debug)]
struct Token<'a> {
    text: &'a str,
    offset: usize,
}

fn lex<'a>(s: &'a str) -> Vec<Token<'a>> {
    let mut tokens = Vec::new();
    let mut start: Option<usize> = None;
    let mut end = 0;
    let flush = |start: &mut Option<usize>, end: usize, tokens: &mut Vec<Token<'a>>| {
        if let Some(b) = start.take() {
            tokens.push(Token {
                text: &s[b..end],
                offset: b,
            });
        }
    };
    for (i, c) in s.char_indices() {
        match c {
            ',' | ':' | '[' | ']' => {
                flush(&mut start, end, &mut tokens);
                tokens.push(Token {
                    text: &s[i..i + 1],
                    offset: i,
                });
            }
            ' ' => {}
            _ => {
                start.get_or_insert(i);
                end = i + c.len_utf8();
            }
        }
    }
    flush(&mut start, end, &mut tokens);
    tokens
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    at: usize,
    end: usize,
}

impl<'a> Parser<'a> {
    fn error(&self, offset: usize, message: impl Into<String>) -> ConfigError {
        ConfigError {
            message: message.into(),
            offset,
        }
    }

    fn here(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |t| t.offset)
    }

    fn next(&mut self) -> Option<&Token<'a>> {
        let t = self.tokens.get(self.at);
        self.at += 1;
        t
    }

    fn expect(&mut self, c: &str) -> Result<(), ConfigError> {
        let offset = self.here();
        match self.next() {
            Some(t) if t.text == c => Ok(()),
            _ => Err(self.error(
                offset,
                format!("Error parsing CachingAllocator::AllocatorConfig settings, expected {c}"),
            )),
        }
    }

    fn value(&mut self, option: &str) -> Result<(&'a str, usize), ConfigError> {
        self.expect(":")?;
        let offset = self.here();
        match self.next() {
            Some(t) => Ok((t.text, t.offset)),
            None => Err(self.error(offset, format!("Error, expecting {option} value"))),
        }
    }

    fn number(&self, text: &str, offset: usize) -> Result<u64, ConfigError> {
        text.parse()
            .map_err(|_| self.error(offset, format!("expected a whole number, found `{text}`")))
    }

    fn megabytes(&mut self, option: &str) -> Result<u64, ConfigError> {
        let (text, offset) = self.value(option)?;
        let mb = self.number(text, offset)?;
        if mb < LARGE_BUFFER / MB {
            return Err(self.error(
                offset,
                format!(
                    "CachingAllocator option {option} too small, must be >= {}",
                    LARGE_BUFFER / MB
                ),
            ));
        }
        Ok(mb.min(u64::MAX / MB) * MB)
    }

    fn boolean(&mut self, option: &str) -> Result<bool, ConfigError> {
        let (text, offset) = self.value(option)?;
        match text {
            "True" => Ok(true),
            "False" => Ok(false),
            _ => Err(self.error(
                offset,
                format!("Expected a single True/False argument for {option}"),
            )),
        }
    }

    fn divisions(&mut self, config: &mut AllocatorConfig) -> Result<(), ConfigError> {
        let (text, offset) = self.value("roundup_power2_divisions")?;
        let table = &mut config.roundup_power2_divisions;
        if text != "[" {
            // The single-number form sets every interval.
            let n = self.number(text, offset)?;
            if !n.is_power_of_two() {
                return Err(self.error(offset, "For roundups, the divisons has to be power of 2"));
            }
            *table = [n; INTERVALS];
            return Ok(());
        }
        let mut first = true;
        let mut last_index = 0;
        loop {
            let offset = self.here();
            let key = match self.next() {
                Some(t) if t.text == "]" => return Ok(()),
                Some(t) => t.text,
                None => return Err(self.error(offset, "expected `]` to close the list")),
            };
            let (text, value_offset) = self.value("roundup_power2_divisions")?;
            let n = self.number(text, value_offset)?;
            if n != 0 && !n.is_power_of_two() {
                return Err(self.error(
                    value_offset,
                    "For roundups, the divisons has to be power of 2 or 0 to disable roundup",
                ));
            }
            if key == ">" {
                table[last_index..].fill(n);
            } else {
                // The key is an interval's start in MiB.
                let mb = self.number(key, offset)?;
                if !mb.is_power_of_two() {
                    return Err(
                        self.error(offset, "For roundups, the intervals have to be power of 2")
                    );
                }
                let index = (mb.trailing_zeros() as usize).min(INTERVALS - 1);
                if first {
                    table[..index].fill(n);
                    first = false;
                }
                table[index] = n;
                last_index = index;
            }
            if self.tokens.get(self.at).is_some_and(|t| t.text != "]") {
                self.expect(",")?;
            }
        }
    }
}

impl FromStr for AllocatorConfig {
    type Err = ConfigError;

    /// Parses a `PYTORCH_CUDA_ALLOC_CONF` value. Options that change nothing leakharness
    /// models (`release_lock_on_cudamalloc`, the `pinned_*` host options) are accepted and
    /// checked; `backend:cudaMallocAsync`, which replaces the caching allocator, is refused.
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let mut config = AllocatorConfig::default();
        config.update(s)?;
        Ok(config)
    }
}

impl AllocatorConfig {
    /// `torch.cuda.memory._set_allocator_settings(s)` (`parseArgs`): `max_split_size_mb`,
    /// `roundup_power2_divisions` and `garbage_collection_threshold` go back to their defaults
    /// unless `s` sets them; the other options keep their values unless `s` sets them. Nothing
    /// changes when `s` is refused.
    ///
    /// ```
    /// use leakharness::alloc::AllocatorConfig;
    /// let mut c: AllocatorConfig = "max_split_size_mb:64,expandable_segments:True".parse().unwrap();
    /// c.update("roundup_power2_divisions:4").unwrap();
    /// assert_eq!(c.max_split_size, None);
    /// assert!(c.expandable_segments);
    /// ```
    pub fn update(&mut self, s: &str) -> Result<(), ConfigError> {
        let mut config = AllocatorConfig {
            max_split_size: None,
            roundup_power2_divisions: [0; INTERVALS],
            garbage_collection_threshold: None,
            ..*self
        };
        let mut p = Parser {
            tokens: lex(s),
            at: 0,
            end: s.len(),
        };
        while let Some(token) = p.next() {
            let (name, offset) = (token.text, token.offset);
            match name {
                "max_split_size_mb" => config.max_split_size = Some(p.megabytes(name)?),
                "max_non_split_rounding_mb" => {
                    config.max_non_split_rounding = Some(p.megabytes(name)?)
                }
                "garbage_collection_threshold" => {
                    let (text, at) = p.value(name)?;
                    let t: f64 = text
                        .parse()
                        .map_err(|_| p.error(at, format!("expected a number, found `{text}`")))?;
                    if !(t > 0.0 && t < 1.0) {
                        return Err(p.error(
                            at,
                            "garbage_collect_threshold is invalid, set it in (0.0, 1.0)",
                        ));
                    }
                    config.garbage_collection_threshold = Some(t);
                }
                "roundup_power2_divisions" => p.divisions(&mut config)?,
                "expandable_segments" => config.expandable_segments = p.boolean(name)?,
                "release_lock_on_cudamalloc" | "pinned_use_cuda_host_register" => {
                    p.boolean(name)?;
                }
                "pinned_use_background_threads" => {
                    p.boolean(name)?;
                }
                "pinned_num_register_threads" => {
                    let (text, at) = p.value(name)?;
                    if !p.number(text, at)?.is_power_of_two() {
                        return Err(p.error(at, "Number of register threads has to be power of 2"));
                    }
                }
                "backend" => {
                    let (text, at) = p.value(name)?;
                    match text {
                        "native" => {}
                        "cudaMallocAsync" => {
                            return Err(p.error(
                                at,
                                "backend:cudaMallocAsync replaces the caching allocator; leakharness models only the native one",
                            ))
                        }
                        _ => {
                            return Err(p.error(
                                at,
                                "Unknown allocator backend, options are native and cudaMallocAsync",
                            ))
                        }
                    }
                }
                _ => {
                    return Err(p.error(
                        offset,
                        format!("Unrecognized CachingAllocator option: {name}"),
                    ))
                }
            }
            if p.at < p.tokens.len() {
                p.expect(",")?;
            }
        }
        *self = config;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_of_two_division_rounding_follows_pytorchs_example() {
        // PyTorch's comment: 1200 with 4 divisions lies between 1024 and 2048, whose steps are
        // 1024, 1280, 1536 and 1792, so it becomes 1280.
        assert_eq!(roundup_power2_next_division(1200, 4), Some(1280));
        assert_eq!(roundup_power2_next_division(1280, 4), Some(1280));
        assert_eq!(roundup_power2_next_division(2048, 4), Some(2048));
    }

    #[test]
    fn bracket_form_fills_before_the_first_key_and_after_the_last() {
        let c: AllocatorConfig = "roundup_power2_divisions:[4:2, 64:8, >:16]"
            .parse()
            .unwrap();
        assert_eq!(c.roundup_power2_divisions[..2], [2, 2]);
        assert_eq!(c.roundup_power2_divisions[2], 2);
        assert_eq!(c.roundup_power2_divisions[3..6], [0, 0, 0]);
        assert_eq!(c.roundup_power2_divisions[6..], [16; 10]);
        // As in PyTorch, `>` fills from the last key's own interval on, overwriting its value.
        let c: AllocatorConfig = "roundup_power2_divisions:[1:2,2:1,>:4]".parse().unwrap();
        assert_eq!(c.roundup_power2_divisions[..3], [2, 4, 4]);
    }

    #[test]
    fn refusals_are_worded_as_pytorch_words_them_and_point_at_the_token() {
        let e = "max_split_size_mb:19"
            .parse::<AllocatorConfig>()
            .unwrap_err();
        assert_eq!(
            e.message,
            "CachingAllocator option max_split_size_mb too small, must be >= 20"
        );
        assert_eq!(e.offset, 18);
        let e = "expandable_segments:False,foo:1"
            .parse::<AllocatorConfig>()
            .unwrap_err();
        assert_eq!(e.message, "Unrecognized CachingAllocator option: foo");
        assert_eq!(e.offset, 26);
        let e = "garbage_collection_threshold:1.0"
            .parse::<AllocatorConfig>()
            .unwrap_err();
        assert_eq!(
            e.message,
            "garbage_collect_threshold is invalid, set it in (0.0, 1.0)"
        );
        assert!("roundup_power2_divisions:3"
            .parse::<AllocatorConfig>()
            .is_err());
        assert!("max_split_size_mb".parse::<AllocatorConfig>().is_err());
    }

    #[test]
    fn the_empty_string_is_the_default() {
        assert_eq!(
            "".parse::<AllocatorConfig>().unwrap(),
            AllocatorConfig::default()
        );
        let c: AllocatorConfig = " max_split_size_mb : 64 , expandable_segments:False"
            .parse()
            .unwrap();
        assert_eq!(c.max_split_size, Some(64 << 20));
        assert!(!c.expandable_segments);
        let c: AllocatorConfig = "expandable_segments:True".parse().unwrap();
        assert!(c.expandable_segments);
    }
}
