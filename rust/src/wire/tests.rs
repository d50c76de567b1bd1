//! Tests of the validator: what it accepts and refuses, its messages, its C entry point, and fuzzing that it
//! never panics. The collision keys and the same-hash cap are tested in `hashes`.

use super::*;

mod hashes;

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
        ext(b'A', &[&text("<f8"), &[2], &2_i64.to_le_bytes(), &1_i64.to_le_bytes(), &16_i64.to_le_bytes(), &[7; 16]]),
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
        (dict(&[(counted(b"(", &[counted(b"(", &[ext(b'B', &[&0_i32.to_le_bytes()])])]), b"N".to_vec())]), "bytearray"),
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
