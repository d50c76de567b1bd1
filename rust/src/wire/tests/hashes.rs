//! Tests of the collision keys: CPython's numeric, tuple and frozenset hashes, equal values sharing one
//! identity, and the cap on distinct keys that share a hash in one dict or set.

use super::*;
use crate::wire::hash::{TUPLE_PRIME_1, TUPLE_PRIME_2};

const PRIME: i128 = (1 << 61) - 1;

fn collision_of(bytes: &[u8]) -> u64 {
    match key_of(bytes) {
        Key::Hashed { collision, .. } => collision,
        other => panic!("{other:?} for {}", hex(bytes)),
    }
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
    let one = [int(1), b"T".to_vec(), float(1.0), [&b"y"[..], &1.0_f64.to_le_bytes(), &0.0_f64.to_le_bytes()].concat()];
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
            hashing.key(&Scalar::Content(Tag::Text, Reader { data: encoded, position: 1 }.text(encoded[0], 0).unwrap()))
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
