//! Collision keys: CPython's hashes of numbers, tuples and frozensets, and the check that at most
//! [`MAX_SHARED_HASH`] distinct keys of one dict or set share one.
//!
//! The validator must refuse exactly the dicts and sets that CPython builds in quadratic time, so its collision
//! key must collide wherever CPython's hash does: for numbers it is CPython's hash itself, computed from the wire
//! form without building the number, and tuples and frozensets combine their items' keys in CPython's own steps.
//! Identities, which tell repeats of one value from distinct values that collide, are keyed at random per call
//! instead, so that no program can aim at them; and the check sorts keys rather than hashing them, because a
//! sort has no worst case to aim at either.
//!
//! See: <https://docs.python.org/3/library/stdtypes.html#hashing-of-numeric-types>, and CPython's
//! `Objects/tupleobject.c` (`tuplehash`) and `Objects/setobject.c` (`frozenset_hash`).

use std::hash::{BuildHasher, Hash, RandomState};

use super::MAX_SHARED_HASH;

// CPython's hash constants for 64-bit builds (pyhash.h, tupleobject.c, setobject.c, object.c).
const MODULUS: u64 = (1 << 61) - 1;
const INFINITY_HASH: u64 = 314_159;
const IMAGINARY_MULTIPLIER: u64 = 1_000_003;
pub(super) const TUPLE_PRIME_1: u64 = 11_400_714_785_074_694_791;
pub(super) const TUPLE_PRIME_2: u64 = 14_029_467_366_897_019_727;
pub(super) const TUPLE_PRIME_5: u64 = 2_870_177_450_012_600_261;
/// hash(None) from Python 3.12 on (earlier versions hash None by address, so any constant would do).
pub(super) const NONE_HASH: u64 = 0xFCA8_6420;
/// CPython hashes Ellipsis by address; any constant apart from None's will do.
pub(super) const ELLIPSIS_HASH: u64 = 0x2E2E_2E2E_2E2E;
/// Ints below 2**120 (at most 8 digits of 15 bits) get their identity from their exact value.
const SMALL_BITS: u32 = 120;

/// Keeps the identity and content hashes of different kinds of value apart.
#[derive(Clone, Copy, Hash)]
pub(super) enum Tag {
    Integer,
    BigInteger,
    Float,
    Complex,
    Text,
    Bytes,
    Extension,
    Tuple,
    FrozenSetItem,
    FrozenSet,
}

/// What the validator knows about a value's hash, where its container needs to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Key {
    /// Not computed: the container does not need it.
    Skipped,
    /// Python cannot hash it (a list, a dict, a bytearray, ...).
    Unhashable,
    /// It collides with nothing: a NaN (hashed by address), or a tuple or frozenset holding one.
    Unique,
    /// `collision` is equal whenever CPython's hashes are equal (for numbers it *is* CPython's hash), and
    /// `identity` is equal only for equal values.
    Hashed { collision: u64, identity: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Magnitude<'a> {
    Small(u128),
    /// The wire's little-endian 15-bit digits, normalised, for ints of 2**120 and more.
    Digits(&'a [u8]),
}

/// An int from the wire: sign, magnitude, and the magnitude modulo 2**61 - 1 (the heart of CPython's hash).
#[derive(Clone, Copy, Debug)]
pub(super) struct Integer<'a> {
    pub(super) negative: bool,
    pub(super) magnitude: Magnitude<'a>,
    pub(super) residue: u64,
}

impl Integer<'_> {
    pub(super) fn small(value: i64) -> Self {
        let magnitude = value.unsigned_abs();
        Integer {
            negative: value < 0,
            magnitude: Magnitude::Small(u128::from(magnitude)),
            residue: magnitude % MODULUS,
        }
    }

    pub(super) fn is_zero(&self) -> bool {
        self.magnitude == Magnitude::Small(0)
    }
}

/// A value without items, as far as its key is concerned.
pub(super) enum Scalar<'a> {
    Constant(u64),
    Integer(Integer<'a>),
    Float(f64),
    Complex(f64, f64),
    Content(Tag, &'a [u8]),
    Unhashable,
}

/// `value mod (2**61 - 1)` for `value < 2**122`: 2**61 is 1 modulo the modulus, so high bits fold onto low.
pub(super) fn reduce(value: u128) -> u64 {
    let modulus = u128::from(MODULUS);
    let folded = (value & modulus) + (value >> 61);
    let folded = (folded & modulus) + (folded >> 61);
    let reduced = if folded >= modulus { folded - modulus } else { folded };
    #[expect(clippy::cast_possible_truncation, reason = "reduced < 2**61")]
    let reduced = reduced as u64;
    reduced
}

pub(super) fn add_modulo(left: u64, right: u64) -> u64 {
    let sum = left + right;
    if sum >= MODULUS {
        sum - MODULUS
    } else {
        sum
    }
}

/// CPython's hash of the number `±residue`, as the bits of a signed hash (-1 is reserved for errors).
fn signed_hash(negative: bool, residue: u64) -> u64 {
    let hash = if negative { residue.wrapping_neg() } else { residue };
    if hash == u64::MAX {
        u64::MAX - 1
    } else {
        hash
    }
}

/// `|value| = mantissa * 2**exponent` with an odd mantissa, or (0, 0), for a finite `value`.
fn float_parts(value: f64) -> (u64, i32) {
    let bits = value.to_bits();
    let biased = i32::try_from((bits >> 52) & 0x7ff).unwrap_or_default();
    let fraction = bits & ((1 << 52) - 1);
    let (mantissa, exponent) = if biased == 0 { (fraction, -1074) } else { (fraction | (1 << 52), biased - 1075) };
    if mantissa == 0 {
        return (0, 0);
    }
    let zeros = mantissa.trailing_zeros();
    (mantissa >> zeros, exponent + zeros.cast_signed())
}

/// CPython's hash of a float that is not a NaN: the hash of the rational number it equals.
fn float_hash(value: f64) -> u64 {
    if value.is_infinite() {
        return signed_hash(value < 0.0, INFINITY_HASH);
    }
    let (mantissa, exponent) = float_parts(value);
    // The exponent only matters modulo 61, negative ones included (2**-1 is the inverse of 2).
    let shift = exponent.rem_euclid(61).cast_unsigned();
    signed_hash(value.is_sign_negative(), reduce(u128::from(mantissa) << shift))
}

pub(super) fn tuple_step(accumulator: u64, lane: u64) -> u64 {
    accumulator.wrapping_add(lane.wrapping_mul(TUPLE_PRIME_2)).rotate_left(31).wrapping_mul(TUPLE_PRIME_1)
}

pub(super) fn tuple_finish(accumulator: u64, length: u64) -> u64 {
    let hash = accumulator.wrapping_add(length ^ (TUPLE_PRIME_5 ^ 0x0035_D373));
    if hash == u64::MAX {
        1_546_275_796
    } else {
        hash
    }
}

pub(super) fn shuffle_bits(hash: u64) -> u64 {
    (hash ^ 0x055B_4DB3 ^ (hash << 16)).wrapping_mul(3_644_798_167)
}

pub(super) fn frozenset_finish(shuffled: u64, length: u64) -> u64 {
    let mut hash = shuffled ^ (length + 1).wrapping_mul(1_927_868_237);
    hash ^= (hash >> 11) ^ (hash >> 25);
    hash = hash.wrapping_mul(69_069).wrapping_add(907_133_923);
    if hash == u64::MAX {
        590_923_713
    } else {
        hash
    }
}

/// Identity and content hashes, keyed at random for each call.
pub(super) struct Hashing {
    pub(super) state: RandomState,
}

impl Hashing {
    pub(super) fn one(&self, value: impl Hash) -> u64 {
        self.state.hash_one(value)
    }

    pub(super) fn key(&self, scalar: &Scalar) -> Key {
        match *scalar {
            Scalar::Constant(hash) => Key::Hashed { collision: hash, identity: hash },
            Scalar::Integer(integer) => Key::Hashed {
                collision: signed_hash(integer.negative, integer.residue),
                identity: self.integer_identity(integer.negative, integer.magnitude),
            },
            Scalar::Float(value) if value.is_nan() => Key::Unique,
            Scalar::Float(value) => Key::Hashed { collision: float_hash(value), identity: self.float_identity(value) },
            Scalar::Complex(real, imaginary) if real.is_nan() || imaginary.is_nan() => Key::Unique,
            Scalar::Complex(real, imaginary) => {
                let collision = float_hash(real).wrapping_add(IMAGINARY_MULTIPLIER.wrapping_mul(float_hash(imaginary)));
                let identity = if imaginary == 0.0 {
                    self.float_identity(real) // complex(x, 0) == x
                } else {
                    let canonical = |part: f64| if part == 0.0 { 0 } else { part.to_bits() };
                    self.one((Tag::Complex, canonical(real), canonical(imaginary)))
                };
                Key::Hashed { collision: signed_hash(false, collision), identity }
            }
            Scalar::Content(tag, bytes) => {
                let hash = self.one((tag, bytes));
                Key::Hashed { collision: hash, identity: hash }
            }
            Scalar::Unhashable => Key::Unhashable,
        }
    }

    /// Ints below 2**63 are their own identity (sign in the low bit): one-to-one, and no hashing on the path
    /// every int takes. A program cannot aim other values' keyed identities at them.
    fn integer_identity(&self, negative: bool, magnitude: Magnitude) -> u64 {
        match magnitude {
            Magnitude::Small(value) if value >> 63 == 0 => {
                (u64::try_from(value).unwrap_or_default() << 1) | u64::from(negative && value != 0)
            }
            Magnitude::Small(value) => self.one((Tag::Integer, negative, value)),
            Magnitude::Digits(digits) => self.one((Tag::BigInteger, negative, digits)),
        }
    }

    /// An integral float gets the identity of the int it equals (1.0 == 1 == True in Python).
    fn float_identity(&self, value: f64) -> u64 {
        let (mantissa, exponent) = float_parts(value);
        if value.is_infinite() || exponent < 0 {
            return self.one((Tag::Float, value.to_bits()));
        }
        let negative = value.is_sign_negative();
        let exponent = exponent.cast_unsigned();
        let bits = u64::BITS - mantissa.leading_zeros() + exponent;
        if bits <= SMALL_BITS {
            return self.integer_identity(negative, Magnitude::Small(u128::from(mantissa) << exponent));
        }
        // The wire digits of mantissa * 2**exponent (at most 1024 bits, so 69 digits).
        let mut digits = [0_u8; 140];
        let count = usize::try_from(bits.div_ceil(15)).unwrap_or(70).min(70);
        for (index, pair) in (0_u32..).zip(digits.chunks_exact_mut(2).take(count)) {
            let low = (15 * index).cast_signed() - exponent.cast_signed();
            let wide = u128::from(mantissa);
            let shifted =
                if low >= 0 { wide.checked_shr(low.cast_unsigned()) } else { wide.checked_shl(low.unsigned_abs()) };
            let digit = u16::try_from(shifted.unwrap_or(0) & 0x7fff).unwrap_or_default();
            pair.copy_from_slice(&digit.to_le_bytes());
        }
        self.integer_identity(negative, Magnitude::Digits(&digits[..2 * count]))
    }
}

/// The keys of one dict or set, checked by sorting: sorted, repeats of one key and keys that share a collision
/// key lie side by side. Unlike a hash table, a sort has no worst case a program could aim at, and on a million
/// keys it is several times faster (the table's cache misses cost more than the sort). Sorting whenever the
/// list has doubled since the last sort keeps repeats from piling up and catches a flood early.
#[derive(Default)]
pub(super) struct Keys {
    /// (collision, identity) of the hashable keys so far: sorted and distinct up to `sorted`.
    pairs: Vec<(u64, u64)>,
    sorted: usize,
}

impl Keys {
    pub(super) fn push(&mut self, collision: u64, identity: u64) -> Result<(), usize> {
        self.pairs.push((collision, identity));
        if self.pairs.len() >= 2 * self.sorted.max(512) {
            self.sort()?;
        }
        Ok(())
    }

    /// Sorts and drops repeats; `Err(count)` when more than [`MAX_SHARED_HASH`] distinct keys share a collision key.
    pub(super) fn sort(&mut self) -> Result<&[(u64, u64)], usize> {
        // Only the unsorted tail needs sorting; merging it with the sorted head is linear.
        let (head, tail) = self.pairs.split_at_mut(self.sorted);
        tail.sort_unstable();
        if let (Some(last), Some(first)) = (head.last(), tail.first()) {
            if first < last {
                let mut merged = Vec::with_capacity(head.len() + tail.len());
                let (mut left, mut right) = (head.iter().peekable(), tail.iter().peekable());
                while let (Some(&&from_head), Some(&&from_tail)) = (left.peek(), right.peek()) {
                    merged.push(
                        if from_head <= from_tail { left.next() } else { right.next() }.map_or(from_head, |&pair| pair),
                    );
                }
                merged.extend(left.chain(right));
                self.pairs = merged;
            }
        }
        self.pairs.dedup();
        self.sorted = self.pairs.len();
        let worst = self.pairs.chunk_by(|left, right| left.0 == right.0).map(<[_]>::len).max().unwrap_or(0);
        if worst > MAX_SHARED_HASH as usize {
            return Err(worst);
        }
        Ok(&self.pairs)
    }
}
