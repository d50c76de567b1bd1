//! Wire values: proof that the bytes a program's answer arrives in are safe for the judge to decode.
//!
//! The judge is trusted and the program is not, yet the judge wants `marshal.loads`'s C speed for answers.
//! marshal trusts its input: it allocates whatever count the data states, recurses as deep as the data nests,
//! fails halfway through a dict whose key is a list, and builds a dict or set whose keys share one hash in
//! quadratic time (100,000 such keys stall it for seconds). So the judge first asks this validator, which walks
//! one value in linear time and memory, builds nothing, never recurses (open containers live on an explicit
//! stack), and accepts only what marshal, or the judge's Python decoder when `#` extensions occur, builds in
//! linear time. It is pure Rust behind a C entry point: the judge calls it through `ctypes`, and `cargo test`
//! runs the same code.
//!
//! The encoding is marshal version 2 without code objects, references or the text float formats, plus `#`
//! extension codes for the standard-library and numpy types marshal lacks. Where marshal is lenient this is
//! strict (a `0` code inside a dict value, an unnormalised int), so that an accepted value always loads.
//!
//! Hash flooding is judged per dict or set: at most [`MAX_SHARED_HASH`] distinct keys may share a *collision
//! key*. For numbers the collision key is CPython's own hash, and tuples and frozensets combine their items'
//! keys exactly as CPython does, so keys crafted to collide in CPython collide here too; strings and bytes get
//! a content hash, because CPython salts theirs per process and no program can aim at it. Repeats of one value
//! count once (a list of a thousand zeros is an honest answer to compare as a set), which takes an exact
//! *identity* besides: the value itself for ints below 2**63, otherwise a hash keyed at random per call, so that
//! no program can make two values look alike to it. Numbers that are equal in Python (1, 1.0, True, 1+0j) share
//! their identity.
//!
//! See: <https://docs.python.org/3/library/stdtypes.html#hashing-of-numeric-types>, and CPython's
//! `Python/marshal.c`, `Objects/tupleobject.c` (`tuplehash`) and `Objects/setobject.c` (`frozenset_hash`).

use std::ffi::c_int;
use std::hash::{BuildHasher, Hash, RandomState};

/// What the judge learns about a valid value.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ValueInfo {
    /// Offset just past the value.
    pub end: u64,
    /// Values in it: itself, container items, and the values inside extension payloads.
    pub values: u64,
    /// Deepest container nesting: 0 for a scalar, 1 for a flat list, 2 for a list in a list.
    pub depth: u32,
    /// 1 when a `#` extension occurred (the judge must decode in Python), else 0.
    pub has_extensions: u32,
}

/// The value comes from the runner: the judge-to-runner extensions `#K`, `#G` and `#b` are refused.
pub const FROM_RUNNER: u32 = 1;
/// A top-level list or tuple is about to become a set: its hashable items get the collision check too.
pub const TOP_LEVEL_AS_SET: u32 = 2;
/// The most distinct keys of one dict (elements of one set) that may share a collision key.
pub const MAX_SHARED_HASH: u32 = 32;

// CPython's hash constants for 64-bit builds (pyhash.h, tupleobject.c, setobject.c, object.c).
const MODULUS: u64 = (1 << 61) - 1;
const INFINITY_HASH: u64 = 314_159;
const IMAGINARY_MULTIPLIER: u64 = 1_000_003;
const TUPLE_PRIME_1: u64 = 11_400_714_785_074_694_791;
const TUPLE_PRIME_2: u64 = 14_029_467_366_897_019_727;
const TUPLE_PRIME_5: u64 = 2_870_177_450_012_600_261;
/// hash(None) from Python 3.12 on (earlier versions hash None by address, so any constant would do).
const NONE_HASH: u64 = 0xFCA8_6420;
/// CPython hashes Ellipsis by address; any constant apart from None's will do.
const ELLIPSIS_HASH: u64 = 0x2E2E_2E2E_2E2E;
/// Ints below 2**120 (at most 8 digits of 15 bits) get their identity from their exact value.
const SMALL_BITS: u32 = 120;
const TEXT_CODES: &[u8] = b"utaAzZ";
const DEFAULTDICT_FACTORIES: &[u8] = b"NiflsudtbC";

/// Keeps the identity and content hashes of different kinds of value apart.
#[derive(Clone, Copy, Hash)]
enum Tag {
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
enum Key {
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

/// How much a container needs to know about its next item's hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    Nothing,
    /// Its key, or that it has none (a top-level list about to become a set skips unhashable items).
    Optional,
    /// Its key; an unhashable item is an error (dict keys, set elements, and items of tuples among them).
    Required,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Magnitude<'a> {
    Small(u128),
    /// The wire's little-endian 15-bit digits, normalised, for ints of 2**120 and more.
    Digits(&'a [u8]),
}

/// An int from the wire: sign, magnitude, and the magnitude modulo 2**61 - 1 (the heart of CPython's hash).
#[derive(Clone, Copy, Debug)]
struct Integer<'a> {
    negative: bool,
    magnitude: Magnitude<'a>,
    residue: u64,
}

impl Integer<'_> {
    fn small(value: i64) -> Self {
        let magnitude = value.unsigned_abs();
        Integer {
            negative: value < 0,
            magnitude: Magnitude::Small(u128::from(magnitude)),
            residue: magnitude % MODULUS,
        }
    }

    fn is_zero(&self) -> bool {
        self.magnitude == Magnitude::Small(0)
    }
}

/// A value without items, as far as its key is concerned.
enum Scalar<'a> {
    Constant(u64),
    Integer(Integer<'a>),
    Float(f64),
    Complex(f64, f64),
    Content(Tag, &'a [u8]),
    Unhashable,
}

/// `value mod (2**61 - 1)` for `value < 2**122`: 2**61 is 1 modulo the modulus, so high bits fold onto low.
fn reduce(value: u128) -> u64 {
    let modulus = u128::from(MODULUS);
    let folded = (value & modulus) + (value >> 61);
    let folded = (folded & modulus) + (folded >> 61);
    let reduced = if folded >= modulus { folded - modulus } else { folded };
    #[expect(clippy::cast_possible_truncation, reason = "reduced < 2**61")]
    let reduced = reduced as u64;
    reduced
}

fn add_modulo(left: u64, right: u64) -> u64 {
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

fn tuple_step(accumulator: u64, lane: u64) -> u64 {
    accumulator.wrapping_add(lane.wrapping_mul(TUPLE_PRIME_2)).rotate_left(31).wrapping_mul(TUPLE_PRIME_1)
}

fn tuple_finish(accumulator: u64, length: u64) -> u64 {
    let hash = accumulator.wrapping_add(length ^ (TUPLE_PRIME_5 ^ 0x0035_D373));
    if hash == u64::MAX {
        1_546_275_796
    } else {
        hash
    }
}

fn shuffle_bits(hash: u64) -> u64 {
    (hash ^ 0x055B_4DB3 ^ (hash << 16)).wrapping_mul(3_644_798_167)
}

fn frozenset_finish(shuffled: u64, length: u64) -> u64 {
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
struct Hashing {
    state: RandomState,
}

impl Hashing {
    fn one(&self, value: impl Hash) -> u64 {
        self.state.hash_one(value)
    }

    fn key(&self, scalar: &Scalar) -> Key {
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
struct Keys {
    /// (collision, identity) of the hashable keys so far: sorted and distinct up to `sorted`.
    pairs: Vec<(u64, u64)>,
    sorted: usize,
}

impl Keys {
    fn push(&mut self, collision: u64, identity: u64) -> Result<(), usize> {
        self.pairs.push((collision, identity));
        if self.pairs.len() >= 2 * self.sorted.max(512) {
            self.sort()?;
        }
        Ok(())
    }

    /// Sorts and drops repeats; `Err(count)` when more than [`MAX_SHARED_HASH`] distinct keys share a collision key.
    fn sort(&mut self) -> Result<&[(u64, u64)], usize> {
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Container {
    Tuple,
    List,
    Set,
    FrozenSet,
    Dict,
    Counter,
    OrderedDict,
    DefaultDict,
    Deque,
}

impl Container {
    fn name(self) -> &'static str {
        match self {
            Container::Tuple => "tuple",
            Container::List => "list",
            Container::Set => "set",
            Container::FrozenSet => "frozenset",
            Container::Dict => "dict",
            Container::Counter => "Counter",
            Container::OrderedDict => "OrderedDict",
            Container::DefaultDict => "defaultdict",
            Container::Deque => "deque",
        }
    }

    fn is_mapping(self) -> bool {
        matches!(self, Container::Dict | Container::Counter | Container::OrderedDict | Container::DefaultDict)
    }

    /// What its hashed items are called in messages, and in messages about what they contain.
    fn key_role(self) -> &'static str {
        match self {
            Container::Set => "set element",
            Container::FrozenSet => "frozenset element",
            Container::Counter => "Counter key",
            Container::OrderedDict => "OrderedDict key",
            Container::DefaultDict => "defaultdict key",
            _ => "dict key",
        }
    }

    fn key_noun(self) -> &'static str {
        match self {
            _ if self.is_mapping() => "keys",
            Container::Set | Container::FrozenSet => "elements",
            _ => "items",
        }
    }
}

/// A tuple's or frozenset's own key: a tuple's combined as its items arrive, a frozenset's when it closes.
struct Combined {
    unhashable: bool,
    unique: bool,
    collision: u64,
    identity: u64,
    items: u64,
}

/// An open container on the explicit stack.
struct Frame {
    container: Container,
    start: usize,
    /// Values still to come (keys and values alike in mappings); `None` for a `{` dict, which ends at code `0`.
    remaining: Option<usize>,
    /// In a mapping: a key was just read, so a dict value comes next.
    expecting_value: bool,
    item_need: Need,
    role: &'static str,
    /// Its parent needs its own key.
    keyed: bool,
    /// Dicts and sets (and a top-level list about to become one): the keys to check for collisions.
    keys: Option<Keys>,
    combined: Combined,
}

impl Frame {
    fn accept(&mut self, key: Key, hashing: &Hashing) -> Result<(), String> {
        if let Some(remaining) = &mut self.remaining {
            *remaining = remaining.saturating_sub(1);
        }
        if self.container.is_mapping() {
            self.expecting_value = !self.expecting_value;
            if !self.expecting_value {
                return Ok(()); // a dict value
            }
        }
        let (collision, identity) = match key {
            Key::Skipped => return Ok(()),
            Key::Unhashable => {
                self.combined.unhashable = true;
                return Ok(());
            }
            Key::Unique => {
                self.combined.unique = true;
                return Ok(());
            }
            Key::Hashed { collision, identity } => (collision, identity),
        };
        if let Some(keys) = &mut self.keys {
            keys.push(collision, identity).map_err(|count| Frame::flooded(self.container, self.start, count))?;
        }
        if self.container == Container::Tuple && self.keyed {
            let combined = &mut self.combined;
            combined.collision = tuple_step(combined.collision, collision);
            combined.identity = hashing.one((combined.identity, identity));
            combined.items += 1;
        }
        Ok(())
    }

    fn flooded(container: Container, start: usize, count: usize) -> String {
        format!("byte {start}: {} has {count} {} with the same hash", container.name(), container.key_noun())
    }

    /// Checks the keys of a closing dict or set, and returns the container's own key where its parent needs it.
    fn finish(mut self, hashing: &Hashing) -> Result<Key, String> {
        if let Some(keys) = &mut self.keys {
            let distinct = keys.sort().map_err(|count| Frame::flooded(self.container, self.start, count))?;
            if self.container == Container::FrozenSet && self.keyed {
                // CPython's frozenset hash: order-independent, over the distinct elements.
                let combined = &mut self.combined;
                for &(collision, identity) in distinct {
                    combined.collision ^= shuffle_bits(collision);
                    combined.identity = combined.identity.wrapping_add(hashing.one((Tag::FrozenSetItem, identity)));
                    combined.items += 1;
                }
            }
        }
        let combined = &self.combined;
        Ok(match self.container {
            _ if !self.keyed => Key::Skipped,
            _ if combined.unhashable => Key::Unhashable,
            Container::Tuple | Container::FrozenSet if combined.unique => Key::Unique,
            Container::Tuple => Key::Hashed {
                collision: tuple_finish(combined.collision, combined.items),
                identity: hashing.one((Tag::Tuple, combined.identity, combined.items)),
            },
            Container::FrozenSet => Key::Hashed {
                collision: frozenset_finish(combined.collision, combined.items),
                identity: hashing.one((Tag::FrozenSet, combined.identity, combined.items)),
            },
            _ => Key::Unhashable,
        })
    }
}

struct Reader<'a> {
    data: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.data.len().saturating_sub(self.position)
    }

    fn peek(&self) -> Option<u8> {
        self.data.get(self.position).copied()
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], String> {
        let left = self.left();
        if count > left {
            return Err(format!("byte {}: truncated ({count} bytes needed, {left} left)", self.position));
        }
        let taken = &self.data[self.position..self.position + count];
        self.position += count;
        Ok(taken)
    }

    fn array<const SIZE: usize>(&mut self) -> Result<[u8; SIZE], String> {
        let mut array = [0; SIZE];
        array.copy_from_slice(self.take(SIZE)?);
        Ok(array)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(u8::from_le_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    fn f64(&mut self) -> Result<f64, String> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// A non-negative i32 count or length.
    fn length(&mut self, start: usize, what: &str) -> Result<usize, String> {
        let length = self.i32()?;
        usize::try_from(length).map_err(|_| format!("byte {start}: {what} of negative length {length}"))
    }

    fn since(&self, start: usize) -> &'a [u8] {
        self.data.get(start..self.position).unwrap_or_default()
    }

    /// The payload of a `l` int: i32 n, then |n| digits of 15 bits, least significant first, the top one nonzero.
    fn long(&mut self, start: usize) -> Result<Integer<'a>, String> {
        let count = self.i32()?;
        let digit_count = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
        let left = self.left();
        if count == i32::MIN || digit_count > left / 2 {
            return Err(format!("byte {start}: int of {digit_count} digits but {left} bytes left"));
        }
        let first = self.position;
        let digits = self.take(2 * digit_count)?;
        let (mut residue, mut shift, mut small) = (0, 0, 0_u128);
        for (index, pair) in digits.chunks_exact(2).enumerate() {
            let digit = u16::from(pair[0]) | (u16::from(pair[1]) << 8);
            if digit >= 1 << 15 {
                return Err(format!("byte {}: int digit {digit:#x} is not below 2**15", first + 2 * index));
            }
            residue = add_modulo(residue, reduce(u128::from(digit) << shift));
            shift = (shift + 15) % 61;
            if index < 8 {
                small |= u128::from(digit) << (15 * index);
            }
        }
        if digits.ends_with(&[0, 0]) {
            return Err(format!("byte {start}: unnormalised int (its top digit is 0)"));
        }
        let magnitude = if digit_count <= 8 { Magnitude::Small(small) } else { Magnitude::Digits(digits) };
        Ok(Integer { negative: count < 0, magnitude, residue })
    }

    /// The payload of a str code: UTF-8 with surrogates for `u` and `t`, ASCII for the others.
    fn text(&mut self, code: u8, start: usize) -> Result<&'a [u8], String> {
        let length = if matches!(code, b'z' | b'Z') { usize::from(self.byte()?) } else { self.length(start, "str")? };
        let first = self.position;
        let bytes = self.take(length)?;
        if matches!(code, b'u' | b't') {
            if let Some(offset) = invalid_utf8(bytes) {
                return Err(format!("byte {}: invalid UTF-8 in str", first + offset));
            }
        } else if let Some(offset) = bytes.iter().position(|byte| !byte.is_ascii()) {
            return Err(format!("byte {}: non-ASCII byte in an ASCII str", first + offset));
        }
        Ok(bytes)
    }
}

/// Where `bytes` stop being what CPython's "surrogatepass" UTF-8 decoder reads: UTF-8 in which the three-byte
/// encodings of U+D800..U+DFFF are allowed too.
fn invalid_utf8(bytes: &[u8]) -> Option<usize> {
    let mut checked = 0;
    loop {
        let Err(error) = std::str::from_utf8(bytes.get(checked..).unwrap_or_default()) else {
            return None;
        };
        let bad = checked + error.valid_up_to();
        match bytes.get(bad..) {
            Some([0xED, 0xA0..=0xBF, 0x80..=0xBF, ..]) => checked = bad + 3,
            _ => return Some(bad),
        }
    }
}

fn describe(code: u8) -> String {
    if code.is_ascii_graphic() {
        format!("{code:#04x} ('{}')", char::from(code))
    } else if code >= 0x80 {
        format!("{code:#04x} (marshal's reference flag)")
    } else {
        format!("{code:#04x}")
    }
}

fn unhashable(start: usize, what: &str, role: &str) -> String {
    format!("byte {start}: unhashable {what} in a {role}")
}

/// The name of an extension scalar or container, and whether Python can hash it.
fn extension_kind(subtype: u8) -> Option<(&'static str, bool)> {
    Some(match subtype {
        b'B' => ("bytearray", false),
        b'r' => ("range", true),
        b'C' => ("Counter", false),
        b'O' => ("OrderedDict", false),
        b'D' => ("defaultdict", false),
        b'Q' => ("deque", false),
        b'A' => ("numpy array", false),
        b'a' => ("numpy scalar", true),
        b'd' => ("date", true),
        b'T' => ("datetime", true),
        b't' => ("time", true),
        b'e' => ("timedelta", true),
        b'E' => ("Decimal", true),
        b'F' => ("Fraction", true),
        b'H' => ("object handle", false),
        b'K' => ("judge callable", false),
        b'G' => ("program global", false),
        b'b' => ("builtin", false),
        _ => return None,
    })
}

enum Parsed {
    Scalar(Key),
    Opened(Frame),
}

struct Validator<'a> {
    reader: Reader<'a>,
    flags: u32,
    max_depth: u32,
    /// What the caller needs of the top-level value (tests ask for its key).
    top_need: Need,
    stack: Vec<Frame>,
    hashing: Hashing,
    values: u64,
    depth: u32,
    has_extensions: bool,
}

/// Validates the one value that starts at byte `offset` of `data` (see [`acecoder_validate_value`]).
pub fn validate(data: &[u8], offset: usize, flags: u32, max_depth: u32) -> Result<ValueInfo, String> {
    Validator::new(data, offset, flags, max_depth, Need::Nothing)?.run().map(|(info, _)| info)
}

impl<'a> Validator<'a> {
    fn new(data: &'a [u8], offset: usize, flags: u32, max_depth: u32, top_need: Need) -> Result<Self, String> {
        if offset > data.len() {
            return Err(format!("offset {offset} is past the end ({} bytes)", data.len()));
        }
        Ok(Validator {
            reader: Reader { data, position: offset },
            flags,
            max_depth,
            top_need,
            stack: Vec::new(),
            hashing: Hashing { state: RandomState::new() },
            values: 0,
            depth: 0,
            has_extensions: false,
        })
    }

    fn run(mut self) -> Result<(ValueInfo, Key), String> {
        loop {
            let (need, role) = match self.stack.last() {
                None => (self.top_need, "value"),
                Some(frame) if frame.expecting_value => (Need::Nothing, "dict value"),
                Some(frame) => (frame.item_need, frame.role),
            };
            let mut done = match self.value(need, role)? {
                Parsed::Scalar(key) => key,
                Parsed::Opened(frame) => {
                    self.stack.push(frame);
                    match self.close_if_complete()? {
                        Some(key) => key,
                        None => continue,
                    }
                }
            };
            // Hand the finished value to its container; containers that it completes are finished in turn.
            loop {
                let Some(parent) = self.stack.last_mut() else {
                    let info = ValueInfo {
                        end: self.reader.position as u64,
                        values: self.values,
                        depth: self.depth,
                        has_extensions: u32::from(self.has_extensions),
                    };
                    return Ok((info, done));
                };
                parent.accept(done, &self.hashing)?;
                match self.close_if_complete()? {
                    Some(key) => done = key,
                    None => break,
                }
            }
        }
    }

    /// Pops and finishes the innermost container if it has all its items (consuming a `{` dict's terminator).
    fn close_if_complete(&mut self) -> Result<Option<Key>, String> {
        let Some(frame) = self.stack.last() else { return Ok(None) };
        match frame.remaining {
            Some(0) => {}
            None if !frame.expecting_value && self.reader.peek() == Some(b'0') => self.reader.position += 1,
            _ => return Ok(None),
        }
        match self.stack.pop() {
            Some(frame) => frame.finish(&self.hashing).map(Some),
            None => Ok(None),
        }
    }

    fn value(&mut self, need: Need, role: &'static str) -> Result<Parsed, String> {
        let start = self.reader.position;
        let code = self.reader.byte()?;
        self.values += 1;
        let scalar = match code {
            b'N' => Scalar::Constant(NONE_HASH),
            b'.' => Scalar::Constant(ELLIPSIS_HASH),
            b'F' | b'T' => Scalar::Integer(Integer::small(i64::from(code == b'T'))),
            b'i' | b'l' => Scalar::Integer(self.integer(code, start)?),
            b'g' => Scalar::Float(self.reader.f64()?),
            b'y' => Scalar::Complex(self.reader.f64()?, self.reader.f64()?),
            b's' => {
                let length = self.reader.length(start, "bytes")?;
                Scalar::Content(Tag::Bytes, self.reader.take(length)?)
            }
            _ if TEXT_CODES.contains(&code) => Scalar::Content(Tag::Text, self.reader.text(code, start)?),
            b'(' | b'[' | b'<' | b'>' => {
                let container = match code {
                    b'(' => Container::Tuple,
                    b'[' => Container::List,
                    b'<' => Container::Set,
                    _ => Container::FrozenSet,
                };
                let count = self.reader.length(start, container.name())?;
                return self.open(container, start, Some(count), need, role);
            }
            b')' => {
                let count = usize::from(self.reader.byte()?);
                return self.open(Container::Tuple, start, Some(count), need, role);
            }
            b'{' => return self.open(Container::Dict, start, None, need, role),
            b'#' => return self.extension(start, need, role),
            _ => return Err(format!("byte {start}: unknown code {}", describe(code))),
        };
        Ok(self.scalar(&scalar, need))
    }

    /// A finished scalar, with its key where its container needs it.
    fn scalar(&self, scalar: &Scalar, need: Need) -> Parsed {
        Parsed::Scalar(if need == Need::Nothing { Key::Skipped } else { self.hashing.key(scalar) })
    }

    fn integer(&mut self, code: u8, start: usize) -> Result<Integer<'a>, String> {
        if code == b'i' {
            Ok(Integer::small(i64::from(self.reader.i32()?)))
        } else {
            self.reader.long(start)
        }
    }

    fn open(
        &mut self,
        container: Container,
        start: usize,
        count: Option<usize>,
        need: Need,
        role: &'static str,
    ) -> Result<Parsed, String> {
        if need == Need::Required && !matches!(container, Container::Tuple | Container::FrozenSet) {
            return Err(unhashable(start, container.name(), role));
        }
        let depth = u32::try_from(self.stack.len() + 1).unwrap_or(u32::MAX);
        if depth > self.max_depth {
            return Err(format!("byte {start}: nesting deeper than {}", self.max_depth));
        }
        let remaining = match count {
            None => None,
            Some(count) => {
                // Every value takes at least one byte; marshal allocates the count before reading any.
                let values = if container.is_mapping() { count.saturating_mul(2) } else { count };
                let left = self.reader.left();
                if values > left {
                    let noun = if container.is_mapping() { "entries" } else { "items" };
                    return Err(format!("byte {start}: {} of {count} {noun} but {left} bytes left", container.name()));
                }
                Some(values)
            }
        };
        self.depth = self.depth.max(depth);
        let as_set = self.stack.is_empty()
            && self.flags & TOP_LEVEL_AS_SET != 0
            && matches!(container, Container::Tuple | Container::List);
        let optional_if_set = if as_set { Need::Optional } else { Need::Nothing };
        let (item_need, role) = match container {
            Container::Tuple => (need.max(optional_if_set), role),
            Container::List | Container::Deque => (optional_if_set, role),
            _ => (Need::Required, container.key_role()),
        };
        let counts = as_set || container.is_mapping() || matches!(container, Container::Set | Container::FrozenSet);
        let combined = Combined {
            unhashable: false,
            unique: false,
            collision: if container == Container::Tuple { TUPLE_PRIME_5 } else { 0 },
            identity: 0,
            items: 0,
        };
        Ok(Parsed::Opened(Frame {
            container,
            start,
            remaining,
            expecting_value: false,
            item_need,
            role,
            keyed: need != Need::Nothing,
            keys: counts.then(Keys::default),
            combined,
        }))
    }

    fn extension(&mut self, start: usize, need: Need, role: &'static str) -> Result<Parsed, String> {
        self.has_extensions = true;
        let subtype = self.reader.byte()?;
        let Some((name, hashable)) = extension_kind(subtype) else {
            return Err(format!("byte {start}: unknown extension #{}", describe(subtype)));
        };
        if matches!(subtype, b'K' | b'G' | b'b') && self.flags & FROM_RUNNER != 0 {
            return Err(format!("byte {start}: a {name} (#{}) cannot come from the runner", char::from(subtype)));
        }
        let container = match subtype {
            b'C' => Container::Counter,
            b'O' => Container::OrderedDict,
            b'D' => Container::DefaultDict,
            b'Q' => Container::Deque,
            _ => {
                if need == Need::Required && !hashable {
                    return Err(unhashable(start, name, role));
                }
                self.extension_payload(subtype, start)?;
                let scalar = if hashable {
                    Scalar::Content(Tag::Extension, self.reader.since(start))
                } else {
                    Scalar::Unhashable
                };
                return Ok(self.scalar(&scalar, need));
            }
        };
        if subtype == b'D' {
            let factory = self.reader.byte()?;
            if !DEFAULTDICT_FACTORIES.contains(&factory) {
                return Err(format!("byte {start}: unknown defaultdict factory {}", describe(factory)));
            }
        } else if subtype == b'Q' {
            let maximum_length = self.reader.i32()?;
            if maximum_length < -1 {
                return Err(format!("byte {start}: deque maxlen {maximum_length}"));
            }
        }
        let count = self.reader.length(start, name)?;
        self.open(container, start, Some(count), need, role)
    }

    /// Reads the payload of an extension scalar.
    fn extension_payload(&mut self, subtype: u8, start: usize) -> Result<(), String> {
        match subtype {
            b'B' => {
                let length = self.reader.length(start, "bytearray")?;
                self.reader.take(length)?;
            }
            b'r' | b'F' => {
                let terms = if subtype == b'r' { 3 } else { 2 };
                for term in 1..=terms {
                    let zero = self.integer_value()?.is_zero();
                    if zero && term == terms {
                        let what = if subtype == b'r' { "range step" } else { "Fraction denominator" };
                        return Err(format!("byte {start}: {what} is 0"));
                    }
                }
            }
            b'A' => self.numpy_array(start)?,
            b'a' => {
                self.text_value()?;
                let length = self.reader.length(start, "numpy scalar")?;
                self.reader.take(length)?;
            }
            b'd' => {
                self.reader.take(3 * 4)?;
            }
            b'T' | b't' => {
                self.reader.take(if subtype == b'T' { 7 * 4 + 1 } else { 4 * 4 + 1 })?;
                self.timezone()?;
            }
            b'e' => {
                self.reader.take(3 * 8)?;
            }
            b'H' => {
                self.reader.take(8 + 1)?;
                self.text_value()?;
                self.text_value()?;
            }
            b'K' => {
                self.reader.take(8)?;
            }
            _ => {
                self.text_value()?; // #E, #G, #b
            }
        }
        Ok(())
    }

    /// `#A`: dtype, u8 ndim <= 32, ndim i64 dimensions, i64 byte count, the bytes.
    fn numpy_array(&mut self, start: usize) -> Result<(), String> {
        self.text_value()?;
        let dimensions = self.reader.byte()?;
        if dimensions > 32 {
            return Err(format!("byte {start}: numpy array of {dimensions} dimensions (at most 32)"));
        }
        for _ in 0..dimensions {
            let size = self.reader.i64()?;
            if size < 0 {
                return Err(format!("byte {start}: numpy array with a negative dimension {size}"));
            }
        }
        let count = self.reader.i64()?;
        let count = usize::try_from(count).map_err(|_| format!("byte {start}: numpy array of {count} bytes"))?;
        self.reader.take(count)?;
        Ok(())
    }

    /// A timezone: `N` (naive) or `z`, an i64 offset in microseconds, and a name that is `N` or a str value.
    fn timezone(&mut self) -> Result<(), String> {
        let start = self.reader.position;
        match self.reader.byte()? {
            b'N' => Ok(()),
            b'z' => {
                self.reader.i64()?;
                if self.reader.peek() == Some(b'N') {
                    self.values += 1;
                    self.reader.position += 1;
                    Ok(())
                } else {
                    self.text_value().map(drop)
                }
            }
            other => Err(format!("byte {start}: timezone {} is neither N nor z", describe(other))),
        }
    }

    fn text_value(&mut self) -> Result<&'a [u8], String> {
        let start = self.reader.position;
        let code = self.reader.byte()?;
        self.values += 1;
        if !TEXT_CODES.contains(&code) {
            return Err(format!("byte {start}: expected a str, found code {}", describe(code)));
        }
        self.reader.text(code, start)
    }

    fn integer_value(&mut self) -> Result<Integer<'a>, String> {
        let start = self.reader.position;
        let code = self.reader.byte()?;
        self.values += 1;
        if !matches!(code, b'i' | b'l') {
            return Err(format!("byte {start}: expected an int, found code {}", describe(code)));
        }
        self.integer(code, start)
    }
}

/// Validates the one value that starts at byte `offset` of `data[..length]`. On success fills `info` and
/// returns 0; on failure writes a NUL-terminated message (truncated to `error_capacity - 1` bytes) into `error`
/// and returns -1. `flags` combines [`FROM_RUNNER`] and [`TOP_LEVEL_AS_SET`]; containers may nest `max_depth`
/// deep (CPython's marshal itself stops at 2000 nested values, scalars included).
///
/// # Safety
/// `data` must point to `length` readable bytes that stay unchanged during the call, `info` to a writable,
/// aligned [`ValueInfo`], and `error` to `error_capacity` writable bytes (or be null).
#[no_mangle]
pub unsafe extern "C" fn acecoder_validate_value(
    data: *const u8,
    length: usize,
    offset: usize,
    flags: u32,
    max_depth: u32,
    info: *mut ValueInfo,
    error: *mut u8,
    error_capacity: usize,
) -> c_int {
    let bytes: &[u8] = if length == 0 {
        &[]
    } else if data.is_null() {
        return write_message("data is null", error, error_capacity);
    } else {
        // SAFETY: the caller guarantees that `data` points to `length` readable bytes that do not change.
        unsafe { std::slice::from_raw_parts(data, length) }
    };
    if info.is_null() {
        return write_message("info is null", error, error_capacity);
    }
    // The validator does not panic by construction; should a bug make it, the judge gets an error, not an abort.
    let outcome = std::panic::catch_unwind(|| validate(bytes, offset, flags, max_depth))
        .unwrap_or_else(|_| Err("internal error: the validator panicked".to_owned()));
    match outcome {
        Ok(value_info) => {
            // SAFETY: `info` is not null, and the caller guarantees that it is writable and aligned.
            unsafe { info.write(value_info) };
            0
        }
        Err(message) => write_message(&message, error, error_capacity),
    }
}

fn write_message(message: &str, error: *mut u8, error_capacity: usize) -> c_int {
    if !error.is_null() && error_capacity > 0 {
        let count = message.len().min(error_capacity - 1);
        // SAFETY: the caller guarantees that `error` has `error_capacity` writable bytes; we write at most
        // `error_capacity - 1` of them and the terminating NUL.
        unsafe {
            std::ptr::copy_nonoverlapping(message.as_ptr(), error, count);
            error.add(count).write(0);
        }
    }
    -1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `marshal.dumps(value, 2).hex()` from CPython 3.11, for the values named.
    const MARSHAL_VECTORS: &[(&str, &str)] = &[
        ("None", "4e"),
        ("True", "54"),
        ("False", "46"),
        ("...", "2e"),
        ("-5", "69fbffffff"),
        ("2**31-1", "69ffffff7f"),
        ("-(2**31)", "6900000080"),
        ("2**31", "6c03000000000000000200"),
        ("2**40", "6c03000000000000000004"),
        ("-(2**100)", "6cf9ffffff0000000000000000000000000004"),
        ("1.5", "67000000000000f83f"),
        ("float('inf')", "67000000000000f07f"),
        ("3+4j", "7900000000000008400000000000001040"),
        ("b'ab'", "73020000006162"),
        ("'é\\ud800'", "7505000000c3a9eda080"),
        ("'abc'", "7503000000616263"),
        ("(1, 'a')", "28020000006901000000750100000061"),
        ("[1, [2, [3]]]", "5b0200000069010000005b0200000069020000005b010000006903000000"),
        ("{'a': 1, 2: (3, 4)}", "7b7501000000616901000000690200000028020000006903000000690400000030"),
        ("{1, 2}", "3c0200000069010000006902000000"),
        ("frozenset({(1, 2)})", "3e01000000280200000069010000006902000000"),
        ("{}", "7b30"),
        ("[]", "5b00000000"),
        ("()", "2800000000"),
        ("set()", "3c00000000"),
        ("frozenset()", "3e00000000"),
        ("('abc', 'abc')", "280200000075030000006162637503000000616263"),
    ];

    /// (value, `marshal.dumps(value, 2).hex()`, `hash(value)`) from CPython 3.11 on x86-64.
    const HASH_VECTORS: &[(&str, &str, i64)] = &[
        ("0", "6900000000", 0),
        ("1", "6901000000", 1),
        ("-1", "69ffffffff", -2),
        ("-2", "69feffffff", -2),
        ("2**61-2", "6c05000000fe7fff7fff7fff7f0100", 2_305_843_009_213_693_950),
        ("2**61-1", "6c05000000ff7fff7fff7fff7f0100", 0),
        ("2**61", "6c0500000000000000000000000200", 1),
        ("2**61+1", "6c0500000001000000000000000200", 2),
        ("-(2**61-1)", "6cfbffffffff7fff7fff7fff7f0100", 0),
        ("-(2**61)", "6cfbffffff00000000000000000200", -2),
        ("2**62", "6c0500000000000000000000000400", 2),
        ("2**64+5", "6c0500000005000000000000001000", 13),
        ("-(2**64)", "6cfbffffff00000000000000001000", -8),
        ("10**30", "6c0700000000000000a937a733044d93652703", 465_258_685_558_744_706),
        ("-(10**30)", "6cf9ffffff00000000a937a733044d93652703", -465_258_685_558_744_706),
        ("2**200+12345", "6c0e00000039300000000000000000000000000000000000000000000000002000", 143_417),
        (
            "-(3**300)",
            "6ce0ffffff7126b8389f399a4de34b4847186d703a381e7d0e2a0a70632321870a0339122f9c410b73e86ec23f8d4d1347ee1a\
             7658bf111706b82a6b7adb250b69ff739c05",
            -687_009_275_797_589_038,
        ),
        ("0.5", "67000000000000e03f", 1_152_921_504_606_846_976),
        ("1e300", "679c7500883ce4377e", 1_224_995_262_755_759_164),
        ("-2.5e-10", "6795d626e80b2ef1bd", -699_647_011_998_930_896),
        ("1.0", "67000000000000f03f", 1),
        ("-1.0", "67000000000000f0bf", -2),
        ("1e-320", "67e807000000000000", 33_957_085_184),
        ("2.0**61", "67000000000000c043", 1),
        ("2.0**1000", "67000000000000707e", 16_777_216),
        ("-0.0", "670000000000000080", 0),
        ("float('inf')", "67000000000000f07f", 314_159),
        ("float('-inf')", "67000000000000f0ff", -314_159),
        ("1.5e16", "6700c0d0d335a54a43", 15_000_000_000_000_000),
        ("0.1", "679a9999999999b93f", 230_584_300_921_369_408),
        ("-1e308", "67a0c8eb85f3cce1ff", -156_575_653_125_701),
        ("complex(1,2)", "79000000000000f03f0000000000000040", 2_000_007),
        ("complex(-1.5,0.25)", "79000000000000f8bf000000000000d03f", 576_460_752_303_423_487),
        ("complex(0,-1)", "790000000000000000000000000000f0bf", -2_000_006),
        ("complex(-1,0)", "79000000000000f0bf0000000000000000", -2),
        ("True", "54", 1),
        ("False", "46", 0),
        ("(1, 2)", "280200000069010000006902000000", -3_550_055_125_485_641_917),
        (
            "(-1, 1.5, 2**100)",
            "280300000069ffffffff67000000000000f83f6c070000000000000000000000000000000004",
            5_645_632_889_140_353_462,
        ),
        ("((1, 2), 3)", "28020000002802000000690100000069020000006903000000", -333_907_151_259_015_829),
        ("()", "2800000000", 5_740_354_900_026_072_187),
        ("frozenset({1, 2})", "3e0200000069010000006902000000", -1_826_646_154_956_904_602),
        ("frozenset({(1, 2)})", "3e01000000280200000069010000006902000000", 3_819_360_209_092_968_377),
        ("frozenset()", "3e00000000", 133_146_708_735_736),
        (
            "frozenset({frozenset({-1}), 2.5})",
            "3e020000003e0100000069ffffffff670000000000000440",
            4_442_083_438_820_935_535,
        ),
        (
            "(True, 1.0, 3+0j)",
            "28030000005467000000000000f03f7900000000000008400000000000000000",
            2_966_401_914_035_743_144,
        ),
    ];

    const PRIME: i128 = (1 << 61) - 1;

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len()).step_by(2).map(|index| u8::from_str_radix(&text[index..index + 2], 16).unwrap()).collect()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().fold(String::new(), |text, byte| text + &format!("{byte:02x}"))
    }

    fn accepted_with(bytes: &[u8], flags: u32) -> ValueInfo {
        validate(bytes, 0, flags, 100).unwrap_or_else(|error| panic!("{error}: {}", hex(bytes)))
    }

    fn accepted(bytes: &[u8]) -> ValueInfo {
        let info = accepted_with(bytes, 0);
        assert_eq!(info.end, bytes.len() as u64, "{}", hex(bytes));
        info
    }

    fn rejected_with(bytes: &[u8], flags: u32) -> String {
        match validate(bytes, 0, flags, 100) {
            Ok(info) => panic!("accepted {info:?}: {}", hex(bytes)),
            Err(message) => message,
        }
    }

    fn rejected(bytes: &[u8]) -> String {
        rejected_with(bytes, 0)
    }

    fn key_of(bytes: &[u8]) -> Key {
        Validator::new(bytes, 0, 0, 100, Need::Required).unwrap().run().unwrap().1
    }

    fn collision_of(bytes: &[u8]) -> u64 {
        match key_of(bytes) {
            Key::Hashed { collision, .. } => collision,
            other => panic!("{other:?} for {}", hex(bytes)),
        }
    }

    fn int(value: i128) -> Vec<u8> {
        if let Ok(small) = i32::try_from(value) {
            return [&b"i"[..], &small.to_le_bytes()].concat();
        }
        let mut magnitude = value.unsigned_abs();
        let mut digits = Vec::new();
        while magnitude > 0 {
            digits.extend_from_slice(&u16::try_from(magnitude & 0x7fff).unwrap().to_le_bytes());
            magnitude >>= 15;
        }
        let count = i32::try_from(digits.len() / 2).unwrap();
        [&b"l"[..], &(if value < 0 { -count } else { count }).to_le_bytes(), &digits].concat()
    }

    fn float(value: f64) -> Vec<u8> {
        [&b"g"[..], &value.to_le_bytes()].concat()
    }

    fn text(value: &str) -> Vec<u8> {
        [&b"u"[..], &i32::try_from(value.len()).unwrap().to_le_bytes(), value.as_bytes()].concat()
    }

    fn counted(code: &[u8], items: &[Vec<u8>]) -> Vec<u8> {
        [code, &i32::try_from(items.len()).unwrap().to_le_bytes(), &items.concat()].concat()
    }

    fn dict(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let body: Vec<u8> = pairs.iter().flat_map(|(key, value)| [key.clone(), value.clone()].concat()).collect();
        [&b"{"[..], &body, b"0"].concat()
    }

    fn with_none_values(keys: &[Vec<u8>]) -> Vec<(Vec<u8>, Vec<u8>)> {
        keys.iter().map(|key| (key.clone(), b"N".to_vec())).collect()
    }

    fn entries(keys: &[Vec<u8>]) -> Vec<u8> {
        keys.iter().flat_map(|key| [key.clone(), b"N".to_vec()].concat()).collect()
    }

    fn repeated(items: &[Vec<u8>], count: usize) -> Vec<Vec<u8>> {
        items.iter().cycle().take(count).cloned().collect()
    }

    fn ext(subtype: u8, payload: &[&[u8]]) -> Vec<u8> {
        [&[b'#', subtype][..], &payload.concat()].concat()
    }

    /// Extension values, one of each (with the scalars hashable where Python's are).
    fn extension_vectors() -> Vec<Vec<u8>> {
        let utc = [&b"z"[..], &0_i64.to_le_bytes(), &text("UTC")].concat();
        let i32s = |values: &[i32]| values.iter().flat_map(|value| value.to_le_bytes()).collect::<Vec<u8>>();
        vec![
            ext(b'B', &[&3_i32.to_le_bytes(), b"abc"]),
            ext(b'r', &[&int(0), &int(10), &int(-2)]),
            ext(b'r', &[&int(0), &int(1 << 70), &int(1 << 65)]),
            ext(b'C', &[&1_i32.to_le_bytes(), &text("a"), &int(3)]),
            ext(b'O', &[&2_i32.to_le_bytes(), &int(1), b"N", &int(2), b"[\0\0\0\0"]),
            ext(b'D', &[b"l", &1_i32.to_le_bytes(), &text("k"), b"[\x01\0\0\0N"]),
            ext(b'Q', &[&(-1_i32).to_le_bytes(), &2_i32.to_le_bytes(), b"NT"]),
            ext(b'Q', &[&5_i32.to_le_bytes(), &0_i32.to_le_bytes()]),
            ext(
                b'A',
                &[&text("<f8"), &[2], &2_i64.to_le_bytes(), &1_i64.to_le_bytes(), &16_i64.to_le_bytes(), &[7; 16]],
            ),
            ext(b'A', &[b"z\x03<i4", &[0], &4_i64.to_le_bytes(), &[1, 0, 0, 0]]),
            ext(b'a', &[b"a\x03\0\0\0<i8", &8_i32.to_le_bytes(), &[9; 8]]),
            ext(b'd', &[&i32s(&[2024, 2, 29])]),
            ext(b'T', &[&i32s(&[2024, 2, 29, 23, 59, 58, 999_999]), &[1], b"N"]),
            ext(b'T', &[&i32s(&[2024, 2, 29, 23, 59, 58, 0]), &[0], &utc]),
            ext(b'T', &[&i32s(&[2024, 2, 29, 23, 59, 58, 0]), &[0], b"z", &3_600_000_000_i64.to_le_bytes(), b"N"]),
            ext(b't', &[&i32s(&[12, 0, 0, 5]), &[0], &utc]),
            ext(b'e', &[&1_i64.to_le_bytes(), &2_i64.to_le_bytes(), &(-3_i64).to_le_bytes()]),
            ext(b'E', &[b"Z\x041.50"]),
            ext(b'F', &[&int(-3), &int(1 << 80)]),
            ext(b'H', &[&7_u64.to_le_bytes(), &[1], &text("mod"), b"A\x03\0\0\0Cls"]),
            ext(b'K', &[&1_u64.to_le_bytes()]),
            ext(b'G', &[&text("helper")]),
            ext(b'b', &[b"z\x03len"]),
        ]
    }

    #[test]
    fn accepts_what_marshal_writes() {
        for (name, encoded) in MARSHAL_VECTORS {
            let info = accepted(&unhex(encoded));
            assert_eq!(info.has_extensions, 0, "{name}");
        }
        for (name, encoded, _) in HASH_VECTORS {
            accepted(&unhex(encoded));
            assert_ne!(key_of(&unhex(encoded)), Key::Unique, "{name}");
        }
        let vector = |name: &str| unhex(MARSHAL_VECTORS.iter().find(|(named, _)| *named == name).unwrap().1);
        let nested = accepted(&vector("[1, [2, [3]]]"));
        assert_eq!((nested.values, nested.depth), (6, 3));
        let dict = accepted(&vector("{'a': 1, 2: (3, 4)}"));
        assert_eq!((dict.values, dict.depth), (7, 2));
        assert_eq!(accepted(b"N").depth, 0);
        assert_eq!(accepted(b"[\0\0\0\0").depth, 1);
    }

    #[test]
    fn accepts_every_code() {
        let plain: Vec<Vec<u8>> = vec![
            b"N".to_vec(),
            b"T".to_vec(),
            b"F".to_vec(),
            b".".to_vec(),
            int(-7),
            int(1 << 100),
            b"l\0\0\0\0".to_vec(),
            float(f64::NAN),
            [&b"y"[..], &1.0_f64.to_le_bytes(), &f64::NAN.to_le_bytes()].concat(),
            b"s\0\0\0\0".to_vec(),
            b"t\x03\0\0\0abc".to_vec(),
            b"u\x06\0\0\0\xed\xb0\x80\xed\xa0\xbd".to_vec(),
            b"u\x04\0\0\0\xf0\x9f\x98\x80".to_vec(),
            b"a\x02\0\0\0ab".to_vec(),
            b"A\0\0\0\0".to_vec(),
            b"z\x01x".to_vec(),
            b"Z\x02xy".to_vec(),
            b")\x02NN".to_vec(),
            b")\0".to_vec(),
            counted(b"[", &[b"N".to_vec(), counted(b"(", &[])]),
            counted(b"<", &[int(1), text("a"), float(f64::NAN), float(f64::NAN), counted(b">", &[int(2)])]),
            counted(b">", &[counted(b"(", &[int(1), counted(b">", &[])])]),
            dict(&[(counted(b"(", &[int(1), b"N".to_vec()]), counted(b"[", &[])), (b".".to_vec(), b"N".to_vec())]),
        ];
        for encoded in &plain {
            assert_eq!(accepted(encoded).has_extensions, 0, "{}", hex(encoded));
        }
        for encoded in extension_vectors() {
            assert_eq!(accepted(&encoded).has_extensions, 1, "{}", hex(&encoded));
            accepted(&counted(b"[", &[encoded]));
        }
        // Values inside extension payloads count: the range and its three ints.
        assert_eq!(accepted(&extension_vectors()[1]).values, 4);
    }

    #[test]
    fn hashable_extensions_are_keys_and_unhashable_ones_are_not() {
        for encoded in extension_vectors() {
            let as_key = counted(b"<", std::slice::from_ref(&encoded));
            let hashable = !matches!(encoded[1], b'B' | b'C' | b'O' | b'D' | b'Q' | b'A' | b'H' | b'K' | b'G' | b'b');
            if hashable {
                accepted(&as_key);
                accepted(&dict(&[(encoded.clone(), b"N".to_vec())]));
            } else {
                assert!(rejected(&as_key).contains("unhashable"), "{}", hex(&encoded));
            }
        }
    }

    #[test]
    fn offsets_and_ends() {
        let data = [&b"xyz"[..], &int(5), b"trailing"].concat();
        let info = validate(&data, 3, 0, 10).unwrap();
        assert_eq!(info.end, 8);
        assert_eq!(rejected(b""), "byte 0: truncated (1 bytes needed, 0 left)");
        assert_eq!(validate(b"N", 2, 0, 10).unwrap_err(), "offset 2 is past the end (1 bytes)");
    }

    #[test]
    fn rejects_unknown_and_forbidden_codes() {
        for code in [b'S', b'c', b'r', b'I', b'f', b'x', b'?', b'0', b'R', b'\0', 0x80, 0xe9, 0xf4, 0xff] {
            let message = rejected(&[code, 0, 0, 0, 0, 0, 0, 0, 0]);
            assert!(message.starts_with("byte 0: unknown code"), "{message}");
        }
        assert_eq!(rejected(b"[\x01\0\0\0c"), "byte 5: unknown code 0x63 ('c')");
        // marshal.dumps(('abc', 'abc'), 3) and version 4: references.
        rejected(&unhex("a802000000f4030000006162637201000000"));
        rejected(&unhex("a902da036162637201000000"));
        // A `0` ends a dict only where a key would start.
        assert_eq!(rejected(b"{N00"), "byte 2: unknown code 0x30 ('0')");
        rejected(b"[\x01\0\0\x000");
        rejected(b"0");
        rejected(b"#");
        assert!(rejected(b"#x").contains("unknown extension #0x78 ('x')"));
    }

    #[test]
    fn rejects_bad_payloads() {
        let cases: &[(&[u8], &str)] = &[
            (b"l\x01\0\0\0\0\x80", "byte 5: int digit 0x8000 is not below 2**15"),
            (b"l\x01\0\0\0\xff\xff", "int digit 0xffff"),
            (b"l\x01\0\0\0\0\0", "unnormalised int"),
            (b"l\xfe\xff\xff\xff\x01\0\0\0", "unnormalised int"),
            (b"l\x00\x00\x00\x80", "int of 2147483648 digits but 0 bytes left"),
            (b"l\x03\0\0\0\x01\0", "byte 0: int of 3 digits but 2 bytes left"),
            (b"s\xff\xff\xff\xff", "byte 0: bytes of negative length -1"),
            (b"s\x05\0\0\0ab", "byte 5: truncated (5 bytes needed, 2 left)"),
            (b"u\x02\0\0\0\xc3\x28", "byte 5: invalid UTF-8"),
            (b"u\x03\0\0\0\xed\xa0\x7f", "invalid UTF-8"),
            (b"u\x02\0\0\0\xed\xa0", "invalid UTF-8"),
            (b"t\x03\0\0\0\xe0\x80\x80", "invalid UTF-8"),
            (b"u\x04\0\0\0\xf4\x90\x80\x80", "invalid UTF-8"),
            (b"a\x01\0\0\0\xe9", "byte 5: non-ASCII"),
            (b"A\xff\xff\xff\xff", "negative length"),
            (b"z\x01\x80", "non-ASCII"),
            (b"Z\x02a", "truncated"),
            (b"(\xff\xff\xff\xff", "tuple of negative length"),
            (b"[\x40\x42\x0f\x00NNNNNNNNNNNN", "byte 0: list of 1000000 items but 12 bytes left"),
            (b"<\x02\0\0\0N", "set of 2 items but 1 bytes left"),
            (b")\x03NN", "tuple of 3 items but 2 bytes left"),
            (b"{NN", "truncated"),
            (b"#B\x04\0\0\0abc", "truncated"),
            (b"#r\x69\0\0\0\0\x69\x01\0\0\0\x69\0\0\0\0", "byte 0: range step is 0"),
            (b"#rNii", "byte 2: expected an int, found code 0x4e ('N')"),
            (b"#F\x69\x01\0\0\0\x69\0\0\0\0", "Fraction denominator is 0"),
            (b"#C\x02\0\0\0NNN", "Counter of 2 entries but 3 bytes left"),
            (b"#Dx\0\0\0\0", "unknown defaultdict factory 0x78 ('x')"),
            (b"#Q\xfe\xff\xff\xff\0\0\0\0", "deque maxlen -2"),
            (b"#Az\x02<i!", "numpy array of 33 dimensions"),
            (b"#Az\x02<i\x01\xff\xff\xff\xff\xff\xff\xff\xff\0\0\0\0\0\0\0\0", "negative dimension"),
            (b"#Az\x02<i\0\x10\0\0\0\0\0\0\0abc", "truncated (16 bytes needed, 3 left)"),
            (b"#Az\x02<i\0\xff\xff\xff\xff\xff\xff\xff\xff", "numpy array of -1 bytes"),
            (b"#AN", "expected a str, found code 0x4e ('N')"),
            (b"#a\x69\0\0\0\0\0\0\0\0", "expected a str"),
            (b"#d\0\0\0\0", "truncated"),
            (b"#t\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0X", "timezone 0x58 ('X') is neither N nor z"),
            (b"#t\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0z\0\0\0\0\0\0\0\0i\0\0\0\0", "expected a str"),
            (b"#E\x69\0\0\0\0", "expected a str"),
            (b"#Hxxxxxxxx\0N", "expected a str"),
        ];
        for (encoded, expected) in cases {
            let message = rejected(encoded);
            assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        }
        // A step of 0 as a `l` int with no digits, and a step of -1 that is fine.
        assert!(rejected(&ext(b'r', &[&int(0), &int(1), b"l\0\0\0\0"])).contains("range step is 0"));
        accepted(&ext(b'r', &[&int(0), &int(1), &int(-1)]));
        accepted(&ext(b'F', &[&int(0), &int(-1)]));
        assert_eq!(accepted(b"l\x01\0\0\0\xff\x7f").values, 1);
    }

    #[test]
    fn judge_only_extensions_are_refused_from_the_runner() {
        for encoded in extension_vectors() {
            let judge_only = matches!(encoded[1], b'K' | b'G' | b'b');
            match validate(&encoded, 0, FROM_RUNNER, 10) {
                Ok(_) => assert!(!judge_only),
                Err(message) => assert!(judge_only && message.contains("cannot come from the runner"), "{message}"),
            }
        }
    }

    #[test]
    fn rejects_unhashable_keys_and_elements() {
        let list = counted(b"[", &[]);
        let cases = [
            (dict(&[(list.clone(), b"N".to_vec())]), "byte 1: unhashable list in a dict key"),
            (counted(b"<", &[counted(b"(", &[int(1), list.clone()])]), "byte 15: unhashable list in a set element"),
            (counted(b">", &[dict(&[])]), "unhashable dict in a frozenset element"),
            (counted(b"<", &[counted(b"<", &[])]), "unhashable set in a set element"),
            (
                dict(&[(counted(b"(", &[counted(b"(", &[ext(b'B', &[&0_i32.to_le_bytes()])])]), b"N".to_vec())]),
                "bytearray",
            ),
            (
                ext(b'C', &[&1_i32.to_le_bytes(), &ext(b'Q', &[&(-1_i32).to_le_bytes(), &0_i32.to_le_bytes()]), b"N"]),
                "deque",
            ),
            (ext(b'O', &[&1_i32.to_le_bytes(), &ext(b'C', &[&0_i32.to_le_bytes()]), b"N"]), "Counter in a OrderedDict"),
        ];
        for (encoded, expected) in cases {
            let message = rejected(&encoded);
            assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        }
        // Dict values and list items may be anything.
        accepted(&dict(&[(int(1), list.clone())]));
        accepted(&counted(b"(", &[list.clone(), dict(&[])]));
    }

    fn multiples_of_the_modulus(count: i128) -> Vec<Vec<u8>> {
        (1..=count).map(|multiple| int(multiple * PRIME)).collect()
    }

    #[test]
    fn collisions_of_ints_are_capped_per_dict_and_set() {
        let keys = multiples_of_the_modulus(33);
        assert!(keys.iter().all(|key| collision_of(key) == 0));
        let under = &keys[..32];
        for (code, accept, reject) in [
            ("dict", dict(&with_none_values(under)), dict(&with_none_values(&keys))),
            ("set", counted(b"<", under), counted(b"<", &keys)),
            ("frozenset", counted(b">", under), counted(b">", &keys)),
            (
                "Counter",
                ext(b'C', &[&32_i32.to_le_bytes(), &entries(under)]),
                ext(b'C', &[&33_i32.to_le_bytes(), &entries(&keys)]),
            ),
        ] {
            accepted(&accept);
            let message = rejected(&reject);
            assert!(message.contains(" has 33 ") && message.contains("with the same hash"), "{code}: {message}");
        }
        let message = rejected(&dict(&with_none_values(&keys)));
        assert_eq!(message, "byte 0: dict has 33 keys with the same hash");
        // The cap is per container: 32 in each of two sets is fine.
        accepted(&counted(b"[", &[counted(b"<", under), counted(b"<", under)]));
    }

    #[test]
    fn collisions_of_floats_and_mixed_numbers() {
        // 2.0**(61 k) all hash to 1, like 1 and True; 0.5 hashes like 2**60.
        let floats: Vec<Vec<u8>> = (-16..=16).map(|power| float(2.0_f64.powi(61 * power))).collect();
        assert!(floats.iter().all(|key| collision_of(key) == 1));
        accepted(&counted(b"<", &floats[..32]));
        assert!(rejected(&counted(b"<", &floats)).contains("33 elements"));
        let mut mixed: Vec<Vec<u8>> = (1..=16).map(|multiple| int(multiple * PRIME + 1)).collect();
        mixed.extend(floats[..16].iter().cloned());
        mixed.push(b"T".to_vec());
        rejected(&counted(b"<", &mixed));
        // NaNs never collide, however many.
        accepted(&counted(b"<", &vec![float(f64::NAN); 100]));
        accepted(&counted(b"<", &vec![counted(b"(", &[float(f64::NAN)]); 100]));
    }

    #[test]
    fn collisions_of_minus_one_and_minus_two() {
        assert_eq!(collision_of(&int(-1)), collision_of(&int(-2)));
        let mut keys: Vec<Vec<u8>> = vec![int(-1)];
        keys.extend((0..32).map(|multiple| int(-2 - multiple * PRIME)));
        assert!(keys.iter().all(|key| collision_of(key) == (-2_i64).cast_unsigned()));
        accepted(&counted(b"<", &keys[..32]));
        rejected(&counted(b"<", &keys));
    }

    #[test]
    fn collisions_of_tuples() {
        let tuples: Vec<Vec<u8>> =
            multiples_of_the_modulus(33).into_iter().map(|key| counted(b"(", &[key, text("x")])).collect();
        accepted(&counted(b"<", &tuples[..32]));
        rejected(&counted(b"<", &tuples));
        // Tuples whose items' hashes differ but whose tuple hashes are equal, solved from CPython's tuple hash
        // (and checked in CPython: 40 such tuples share one hash).
        let inverse = |odd: u64| {
            (0..6).fold(odd, |inverse: u64, _| inverse.wrapping_mul(2_u64.wrapping_sub(odd.wrapping_mul(inverse))))
        };
        let target: u64 = 0x0123_4567_89ab_cdef;
        let unwound = target.wrapping_mul(inverse(TUPLE_PRIME_1)).rotate_right(31);
        let crafted: Vec<Vec<u8>> = (1_i128..200)
            .filter_map(|first| {
                let before = tuple_step(TUPLE_PRIME_5, first.try_into().unwrap());
                let lane = unwound.wrapping_sub(before).wrapping_mul(inverse(TUPLE_PRIME_2)).cast_signed();
                (i128::from(lane).abs() < PRIME && lane != -1).then(|| counted(b"(", &[int(first), int(lane.into())]))
            })
            .take(33)
            .collect();
        assert_eq!(crafted.len(), 33);
        let hashes: std::collections::HashSet<u64> = crafted.iter().map(|tuple| collision_of(tuple)).collect();
        assert_eq!(hashes.len(), 1);
        accepted(&counted(b"<", &crafted[..32]));
        rejected(&counted(b"<", &crafted));
    }

    #[test]
    fn repeats_count_once() {
        // Equal values (1 == True == 1.0 == 1+0j, 2**200 == 2.0**200) are repeats, not collisions.
        let one =
            [int(1), b"T".to_vec(), float(1.0), [&b"y"[..], &1.0_f64.to_le_bytes(), &0.0_f64.to_le_bytes()].concat()];
        accepted_with(&counted(b"[", &repeated(&one, 80)), TOP_LEVEL_AS_SET);
        let big = [int(1 << 125), float(2.0_f64.powi(125))];
        assert_eq!(collision_of(&big[0]), collision_of(&big[1]));
        accepted_with(&counted(b"[", &repeated(&big, 80)), TOP_LEVEL_AS_SET);
        accepted_with(&counted(b"(", &vec![counted(b">", &[int(PRIME), int(2 * PRIME)]); 50]), TOP_LEVEL_AS_SET);
        // frozenset({P, P}) is frozenset({P}): the same key, so the two below are 33 distinct colliders.
        let doubled = |multiple| counted(b">", &[int(multiple * PRIME), int(multiple * PRIME)]);
        let single = |multiple| counted(b">", &[int(multiple * PRIME)]);
        assert_eq!(collision_of(&doubled(3)), collision_of(&single(3)));
        let frozensets: Vec<Vec<u8>> =
            (1..=33).map(|multiple| if multiple % 2 == 0 { doubled(multiple) } else { single(multiple) }).collect();
        rejected(&counted(b"<", &frozensets));
    }

    /// The wire form of `±2**exponent`.
    fn power_of_two(exponent: usize, negative: bool) -> Vec<u8> {
        let count = i32::try_from(exponent / 15 + 1).unwrap();
        let mut digits = vec![0_u8; 2 * (exponent / 15)];
        digits.extend_from_slice(&(1_u16 << (exponent % 15)).to_le_bytes());
        [&b"l"[..], &(if negative { -count } else { count }).to_le_bytes(), &digits].concat()
    }

    #[test]
    fn equal_values_share_their_key() {
        let hashing = Hashing { state: RandomState::new() };
        for exponent in [0, 1, 52, 53, 60, 61, 64, 105, 119, 120, 121, 135, 200, 1000, 1023] {
            for negative in [false, true] {
                let encoded = power_of_two(exponent, negative);
                let integer = Reader { data: &encoded, position: 1 }.long(0).unwrap();
                let value = 2.0_f64.powi(i32::try_from(exponent).unwrap()) * if negative { -1.0 } else { 1.0 };
                let float_key = hashing.key(&Scalar::Float(value));
                assert_eq!(hashing.key(&Scalar::Integer(integer)), float_key, "2**{exponent}");
                let plus_one = hashing.key(&Scalar::Float(value + value * f64::EPSILON));
                assert_ne!(plus_one, float_key);
            }
        }
        // A str's key depends on its text, not on the code it came in; bytes differ from str.
        let texts: Vec<Key> = [&b"u\x03\0\0\0abc"[..], b"t\x03\0\0\0abc", b"A\x03\0\0\0abc", b"z\x03abc"]
            .iter()
            .map(|encoded| {
                hashing.key(&Scalar::Content(
                    Tag::Text,
                    Reader { data: encoded, position: 1 }.text(encoded[0], 0).unwrap(),
                ))
            })
            .collect();
        assert!(texts.iter().all(|key| *key == texts[0]));
        assert_ne!(hashing.key(&Scalar::Content(Tag::Bytes, b"abc")), texts[0]);
        let zero = hashing.key(&Scalar::Integer(Integer::small(0)));
        assert_eq!(hashing.key(&Scalar::Float(-0.0)), zero);
        assert_eq!(hashing.key(&Scalar::Complex(-0.0, -0.0)), zero);
        assert_ne!(hashing.key(&Scalar::Float(0.5)), hashing.key(&Scalar::Float(-0.5)));
        assert_ne!(hashing.key(&Scalar::Complex(1.0, 1.0)), hashing.key(&Scalar::Complex(1.0, -1.0)));
    }

    #[test]
    fn top_level_as_set() {
        let keys = multiples_of_the_modulus(33);
        accepted(&counted(b"[", &keys));
        assert!(rejected_with(&counted(b"[", &keys), TOP_LEVEL_AS_SET).contains("list has 33 items with the same hash"));
        assert!(rejected_with(&counted(b"(", &keys), TOP_LEVEL_AS_SET).contains("tuple has 33 items"));
        // Unhashable items are skipped, not rejected, and only the top level counts.
        let mut with_lists = keys[..32].to_vec();
        with_lists.extend(vec![counted(b"[", &[]); 40]);
        with_lists.push(counted(b"(", &[counted(b"[", &[])]));
        accepted_with(&counted(b"[", &with_lists), TOP_LEVEL_AS_SET);
        accepted_with(&counted(b"[", &[counted(b"[", &keys)]), TOP_LEVEL_AS_SET);
        accepted_with(&ext(b'Q', &[&(-1_i32).to_le_bytes(), &counted(b"", &keys)[..]]), TOP_LEVEL_AS_SET);
        accepted_with(&counted(b"[", &vec![int(0); 1000]), TOP_LEVEL_AS_SET);
    }

    #[test]
    fn numeric_hashes_agree_with_cpython() {
        for (name, encoded, expected) in HASH_VECTORS {
            assert_eq!(collision_of(&unhex(encoded)).cast_signed(), *expected, "hash({name})");
        }
        // hash(None) from Python 3.12 on, and a tuple holding it.
        assert_eq!(collision_of(b"N"), 0xFCA8_6420);
        assert_eq!(collision_of(&counted(b"(", &[int(1)])), collision_of(b")\x01T"));
        assert_eq!(collision_of(&float(1.0)), collision_of(&int(1)));
    }

    fn valid_samples() -> Vec<Vec<u8>> {
        let mut samples: Vec<Vec<u8>> = MARSHAL_VECTORS.iter().map(|(_, encoded)| unhex(encoded)).collect();
        samples.extend(HASH_VECTORS.iter().map(|(_, encoded, _)| unhex(encoded)));
        samples.extend(extension_vectors());
        samples.push(counted(b"[", &extension_vectors()));
        samples
    }

    #[test]
    fn every_truncation_is_rejected() {
        for sample in valid_samples() {
            accepted(&sample);
            for cut in 0..sample.len() {
                assert!(validate(&sample[..cut], 0, 0, 100).is_err(), "{} cut at {cut}", hex(&sample));
            }
        }
    }

    /// xorshift64*: enough randomness for fuzzing, and no dependency.
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, bound: usize) -> usize {
            usize::try_from(self.next() % bound as u64).unwrap()
        }
    }

    fn check_any(bytes: &[u8], random: &mut Random) {
        let flags = u32::try_from(random.below(4)).unwrap();
        let max_depth = u32::try_from(random.below(6)).unwrap();
        if let Ok(info) = validate(bytes, 0, flags, max_depth) {
            assert!(info.end <= bytes.len() as u64 && info.depth <= max_depth && info.values >= 1);
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let alphabet = b"NFT.ilgysutaAzZ()[{<>#0BrCODQAadTteEFHKGb\x00\x01\x02\x03\xff";
        let mut random = Random(0x9E37_79B9_7F4A_7C15);
        for _ in 0..50_000 {
            let length = random.below(48);
            let bytes: Vec<u8> = (0..length)
                .map(|_| {
                    if random.below(3) == 0 {
                        random.next().to_le_bytes()[0]
                    } else {
                        alphabet[random.below(alphabet.len())]
                    }
                })
                .collect();
            check_any(&bytes, &mut random);
        }
    }

    #[test]
    fn mutations_of_valid_values_never_panic() {
        let samples = valid_samples();
        let mut random = Random(0xD1B5_4A32_D192_ED03);
        for _ in 0..50_000 {
            let mut bytes = samples[random.below(samples.len())].clone();
            for _ in 0..=random.below(3) {
                let at = random.below(bytes.len() + 1);
                match random.below(4) {
                    0 if at < bytes.len() => bytes[at] = random.next().to_le_bytes()[0],
                    1 if at < bytes.len() => bytes[at] ^= 1 << random.below(8),
                    2 if at < bytes.len() => drop(bytes.remove(at)),
                    _ => bytes.insert(at, random.next().to_le_bytes()[0]),
                }
            }
            check_any(&bytes, &mut random);
        }
    }

    #[test]
    fn deep_nesting_is_rejected_without_recursion() {
        let deep =
            |depth: usize, open: &[u8], close: &[u8]| [open.repeat(depth), b"N".to_vec(), close.repeat(depth)].concat();
        // Refused at the 513th list (byte 2560), before anything deeper is read.
        let lists = deep(10_000, b"[\x01\0\0\0", b"");
        assert_eq!(validate(&lists, 0, 0, 512).unwrap_err(), "byte 2560: nesting deeper than 512");
        // With no depth limit the explicit stack takes 200,000 levels of keyed frozensets, tuples and dicts.
        let info = validate(&deep(200_000, b"[\x01\0\0\0", b""), 0, 0, u32::MAX).unwrap();
        assert_eq!((info.depth, info.values), (200_000, 200_001));
        let keyed = [&b"<\x01\0\0\0"[..], &deep(100_000, b">\x01\0\0\0(\x01\0\0\0", b"")].concat();
        assert_eq!(validate(&keyed, 0, 0, u32::MAX).unwrap().depth, 200_001);
        let dicts = deep(100_000, b"{N", b"0");
        assert_eq!(validate(&dicts, 0, 0, u32::MAX).unwrap().end, dicts.len() as u64);
        assert!(validate(&deep(100_000, b"{N", b"")[..], 0, 0, u32::MAX).is_err());
        assert_eq!(validate(b"[\0\0\0\0", 0, 0, 0).unwrap_err(), "byte 0: nesting deeper than 0");
        assert_eq!(validate(b"[\x01\0\0\0[\0\0\0\0", 0, 0, 2).unwrap().depth, 2);
        assert!(validate(b"[\x01\0\0\0[\0\0\0\0", 0, 0, 1).is_err());
    }

    #[test]
    fn c_entry_point() {
        let data = [&b"??"[..], &counted(b"[", &[int(1), int(2)])].concat();
        let mut info = ValueInfo::default();
        let mut error = [0xAA_u8; 16];
        // SAFETY: every pointer comes from a live local of the stated length.
        let status = unsafe {
            acecoder_validate_value(data.as_ptr(), data.len(), 2, 0, 10, &raw mut info, error.as_mut_ptr(), error.len())
        };
        assert_eq!(status, 0);
        assert_eq!(info, ValueInfo { end: 17, values: 3, depth: 1, has_extensions: 0 });
        // SAFETY: as above; the message is truncated to 15 bytes and a NUL.
        let status = unsafe {
            acecoder_validate_value(data.as_ptr(), data.len(), 0, 0, 10, &raw mut info, error.as_mut_ptr(), error.len())
        };
        assert_eq!(status, -1);
        assert_eq!(&error[..], b"byte 0: unknown\0");
        // SAFETY: a null `data` with length 0 is an empty value; a null `info` is refused.
        let status =
            unsafe { acecoder_validate_value(std::ptr::null(), 0, 0, 0, 10, &raw mut info, std::ptr::null_mut(), 0) };
        assert_eq!(status, -1);
        // SAFETY: as above.
        let status = unsafe {
            acecoder_validate_value(data.as_ptr(), data.len(), 2, 0, 10, std::ptr::null_mut(), error.as_mut_ptr(), 16)
        };
        assert_eq!(status, -1);
        assert_eq!(&error[..13], b"info is null\0");
    }

    /// Speed on a 16 MiB list of small ints and a 1M-key dict: `cargo test --release --lib wire::tests::speed
    /// -- --ignored --nocapture`.
    #[test]
    #[ignore = "prints timings; not a test of behaviour"]
    fn speed() {
        let count = (16 << 20) / 5;
        let list = [counted(b"[", &[]), (0..count).flat_map(|value| int(value % 1000)).collect()].concat();
        let list = [&b"["[..], &i32::try_from(count).unwrap().to_le_bytes(), &list[5..]].concat();
        let pairs: Vec<u8> = (0..1_000_000).flat_map(|key| [int(key * 7919), b"N".to_vec()].concat()).collect();
        let dictionary = [&b"{"[..], &pairs, b"0"].concat();
        for (name, data, flags) in [
            ("16 MiB list of small ints", &list, 0),
            ("the same list, TOP_LEVEL_AS_SET", &list, TOP_LEVEL_AS_SET),
            ("1M-key dict of ints", &dictionary, 0),
        ] {
            let started = std::time::Instant::now();
            let info = validate(data, 0, flags, 100).unwrap();
            let elapsed = started.elapsed();
            println!("{name}: {} bytes, {} values, {elapsed:.2?}", data.len(), info.values);
        }
    }
}
