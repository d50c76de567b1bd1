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
use std::hash::RandomState;

use hash::{
    add_modulo, frozenset_finish, reduce, shuffle_bits, tuple_finish, tuple_step, Hashing, Integer, Key, Keys,
    Magnitude, Scalar, Tag, ELLIPSIS_HASH, NONE_HASH, TUPLE_PRIME_5,
};

mod hash;
#[cfg(test)]
mod tests;

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

const TEXT_CODES: &[u8] = b"utaAzZ";
const DEFAULTDICT_FACTORIES: &[u8] = b"NiflsudtbC";

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
