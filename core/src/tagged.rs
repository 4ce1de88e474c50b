//! Internally tagged enums in JSON (`{"type": "peer_joined", "peer": {...}, "at_ms": 1}`) written and read with
//! the tag as the first field, so decoding never buffers a message.
//!
//! serde's own `#[serde(tag = "type")]` reads the whole object into its private `Content` tree before it knows
//! the variant, then decodes the variant from that tree: every type inside gets a second decoder, which made up
//! a large part of the browser dashboard's wasm. Here an enum derives serde's externally tagged form as inherent
//! functions (`#[serde(remote = "Self")]`), and [`tag_first!`] implements `Serialize` and `Deserialize` on top
//! of them: [`TagFirstSerializer`] writes the variant's name under the tag and then the variant's fields in
//! the same object; [`deserialize`] reads the first key, which must be the tag, and hands the rest of the
//! object to the variant's decoder as it streams by.
//!
//! The JSON is the same as serde's internally tagged form (unit variants `{"type": "peers"}`, struct variants
//! and newtype variants of structs with their fields beside the tag). One difference: the tag must come first
//! (else the error says "`type` must be the first field"). Herald's own writers always put it first;
//! [`crate::bridge::BridgeRequest::from_json`] also takes requests from clients that put it elsewhere.
//!
//! `remote = "Self"` leaves the externally tagged form as public inherent functions `T::serialize` and
//! `T::deserialize`, which a path call (`BridgeEvent::deserialize(d)`) picks before the traits: call the
//! traits (`serde_json::from_str`, `<T as Deserialize>::deserialize`) instead.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, MapAccess, VariantAccess, Visitor,
};
use serde::ser::{self, Impossible, Serialize, SerializeMap, Serializer};

/// An enum whose externally tagged serde form [`tag_first!`] turns into an internally tagged one.
pub(crate) trait TagFirst: Sized {
    /// The tag's key (`type`, `kind`, `code`).
    const TAG: &'static str;

    /// Decodes the externally tagged form (the derive's inherent `deserialize`).
    fn deserialize_external<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
}

/// Implements `Serialize` and `Deserialize` for an enum that derives both with `#[serde(remote = "Self")]`,
/// with its tag under `$tag`, first in the object.
macro_rules! tag_first {
    ($ty:ty, $tag:literal) => {
        impl $crate::tagged::TagFirst for $ty {
            const TAG: &'static str = $tag;

            fn deserialize_external<'de, D: serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                <$ty>::deserialize(deserializer)
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                <$ty>::serialize(
                    self,
                    $crate::tagged::TagFirstSerializer::new(serializer, $tag),
                )
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::tagged::deserialize(deserializer)
            }
        }
    };
}
pub(crate) use tag_first;

/// Reads a `T` from an object whose first field is `T::TAG`.
pub(crate) fn deserialize<'de, D: Deserializer<'de>, T: TagFirst>(
    deserializer: D,
) -> Result<T, D::Error> {
    deserializer.deserialize_map(TagFirstVisitor(PhantomData))
}

struct TagFirstVisitor<T>(PhantomData<T>);

impl<'de, T: TagFirst> Visitor<'de> for TagFirstVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an object with `{}` as its first field", T::TAG)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        if map.next_key_seed(IsKey(T::TAG))? != Some(true) {
            return Err(de::Error::custom(format_args!(
                "`{}` must be the first field",
                T::TAG
            )));
        }
        T::deserialize_external(Variant { map })
    }
}

/// Whether the next key is this one (read without allocating).
struct IsKey(&'static str);

impl<'de> DeserializeSeed<'de> for IsKey {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for IsKey {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

/// The rest of an object after its tag's key, seen as an externally tagged enum: the tag's value names the
/// variant, and the fields after it are the variant's.
struct Variant<A> {
    map: A,
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for Variant<A> {
    type Error = A::Error;

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_enum(self)
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, A::Error> {
        Err(de::Error::custom("a tagged object decodes only as an enum"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

impl<'de, A: MapAccess<'de>> EnumAccess<'de> for Variant<A> {
    type Error = A::Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(
        mut self,
        seed: V,
    ) -> Result<(V::Value, Self), A::Error> {
        let variant = self.map.next_value_seed(seed)?;
        Ok((variant, self))
    }
}

impl<'de, A: MapAccess<'de>> VariantAccess<'de> for Variant<A> {
    type Error = A::Error;

    fn unit_variant(mut self) -> Result<(), A::Error> {
        // Fields beside the tag of a unit variant are ignored, as serde's internally tagged enums do.
        while self.map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        seed.deserialize(MapAccessDeserializer::new(self.map))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, A::Error> {
        Err(de::Error::custom("a tagged object has no tuple variants"))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_map(self.map)
    }
}

/// Writes an externally tagged enum as an object with the variant's name under the tag, first, and then the
/// variant's fields (a newtype variant's value must be a struct or a map).
pub struct TagFirstSerializer<S> {
    inner: S,
    tag: &'static str,
    /// Inside a newtype variant: its name, written before the value's fields.
    variant: Option<&'static str>,
}

impl<S: Serializer> TagFirstSerializer<S> {
    /// Writes into `inner` with the tag under `tag`.
    pub fn new(inner: S, tag: &'static str) -> Self {
        TagFirstSerializer {
            inner,
            tag,
            variant: None,
        }
    }

    fn unsupported(&self) -> S::Error {
        ser::Error::custom(match self.variant {
            None => "only an enum can be written with a tag",
            Some(_) => "a tagged newtype variant must hold a struct or a map",
        })
    }

    /// An object of `fields` fields after the tag, with the tag written.
    fn open(
        self,
        variant: &'static str,
        fields: Option<usize>,
    ) -> Result<TaggedMap<S::SerializeMap>, S::Error> {
        let mut map = self.inner.serialize_map(fields.map(|n| n + 1))?;
        map.serialize_entry(self.tag, variant)?;
        Ok(TaggedMap(map))
    }

    /// The object of a newtype variant's value.
    fn open_value(self, fields: Option<usize>) -> Result<TaggedMap<S::SerializeMap>, S::Error> {
        match self.variant {
            Some(variant) => self.open(variant, fields),
            None => Err(self.unsupported()),
        }
    }
}

/// The `serialize_*` methods a [`TagFirstSerializer`] refuses.
macro_rules! unsupported {
    ($($method:ident($($arg:ty),*);)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<S::Ok, S::Error> {
            Err(self.unsupported())
        })*
    };
}

impl<S: Serializer> Serializer for TagFirstSerializer<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Impossible<S::Ok, S::Error>;
    type SerializeTuple = Impossible<S::Ok, S::Error>;
    type SerializeTupleStruct = Impossible<S::Ok, S::Error>;
    type SerializeTupleVariant = Impossible<S::Ok, S::Error>;
    type SerializeMap = TaggedMap<S::SerializeMap>;
    type SerializeStruct = TaggedMap<S::SerializeMap>;
    type SerializeStructVariant = TaggedMap<S::SerializeMap>;

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        if self.variant.is_some() {
            return Err(self.unsupported());
        }
        self.open(variant, Some(0))?.end_map()
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        if self.variant.is_some() {
            return Err(self.unsupported());
        }
        value.serialize(TagFirstSerializer {
            variant: Some(variant),
            ..self
        })
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<TaggedMap<S::SerializeMap>, S::Error> {
        if self.variant.is_some() {
            return Err(self.unsupported());
        }
        self.open(variant, Some(len))
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<TaggedMap<S::SerializeMap>, S::Error> {
        self.open_value(Some(len))
    }

    fn serialize_map(self, len: Option<usize>) -> Result<TaggedMap<S::SerializeMap>, S::Error> {
        self.open_value(len)
    }

    unsupported! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<S::Ok, S::Error> {
        Err(self.unsupported())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _value: &T,
    ) -> Result<S::Ok, S::Error> {
        Err(self.unsupported())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        Err(self.unsupported())
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, S::Error> {
        Err(self.unsupported())
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        Err(self.unsupported())
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        Err(self.unsupported())
    }
}

/// An object being written after its tag: struct fields and map entries go into it as they come.
pub struct TaggedMap<M>(M);

impl<M: SerializeMap> TaggedMap<M> {
    fn end_map(self) -> Result<M::Ok, M::Error> {
        self.0.end()
    }
}

impl<M: SerializeMap> SerializeMap for TaggedMap<M> {
    type Ok = M::Ok;
    type Error = M::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), M::Error> {
        self.0.serialize_key(key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), M::Error> {
        self.0.serialize_value(value)
    }

    fn end(self) -> Result<M::Ok, M::Error> {
        self.end_map()
    }
}

/// A struct's (or struct variant's) fields go into the object as its entries.
macro_rules! fields_as_entries {
    ($($serialize:ident),*) => {$(
        impl<M: SerializeMap> ser::$serialize for TaggedMap<M> {
            type Ok = M::Ok;
            type Error = M::Error;

            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), M::Error> {
                self.0.serialize_entry(key, value)
            }

            fn end(self) -> Result<M::Ok, M::Error> {
                self.end_map()
            }
        }
    )*};
}
fields_as_entries!(SerializeStruct, SerializeStructVariant);

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    /// An enum of every variant shape the bridge uses, in the tag-first form.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(remote = "Self", rename_all = "snake_case")]
    enum Ours {
        Unit,
        Struct {
            name: String,
            #[serde(default)]
            extra: Option<u64>,
        },
        Newtype(Inner),
        Map(BTreeMap<String, u64>),
    }
    super::tag_first!(Ours, "type");

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Inner {
        a: u64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        list: Vec<String>,
    }

    /// The same enum as serde's internally tagged derive writes it: the reference for the JSON.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Serdes {
        Unit,
        Struct {
            name: String,
            #[serde(default)]
            extra: Option<u64>,
        },
        Newtype(Inner),
        Map(BTreeMap<String, u64>),
    }

    fn pairs() -> Vec<(Ours, Serdes)> {
        let inner = |list: &[&str]| Inner {
            a: 7,
            list: list.iter().map(|s| s.to_string()).collect(),
        };
        let map = BTreeMap::from([("x".to_owned(), 1), ("y".to_owned(), 2)]);
        vec![
            (Ours::Unit, Serdes::Unit),
            (
                Ours::Struct {
                    name: "n".into(),
                    extra: Some(3),
                },
                Serdes::Struct {
                    name: "n".into(),
                    extra: Some(3),
                },
            ),
            (
                Ours::Struct {
                    name: "".into(),
                    extra: None,
                },
                Serdes::Struct {
                    name: "".into(),
                    extra: None,
                },
            ),
            (Ours::Newtype(inner(&[])), Serdes::Newtype(inner(&[]))),
            (
                Ours::Newtype(inner(&["p", "q"])),
                Serdes::Newtype(inner(&["p", "q"])),
            ),
            (Ours::Map(map.clone()), Serdes::Map(map)),
            (Ours::Map(BTreeMap::new()), Serdes::Map(BTreeMap::new())),
        ]
    }

    #[test]
    fn every_variant_shape_writes_serdes_json_and_reads_it_back() {
        for (ours, serdes) in pairs() {
            let json = serde_json::to_string(&ours).unwrap();
            assert_eq!(json, serde_json::to_string(&serdes).unwrap());
            assert!(json.starts_with(r#"{"type":"#), "{json}");
            assert_eq!(serde_json::from_str::<Ours>(&json).unwrap(), ours, "{json}");
            // Pretty-printed and nested in other values too.
            let pretty = serde_json::to_string_pretty(&vec![ours.clone()]).unwrap();
            assert_eq!(serde_json::from_str::<Vec<Ours>>(&pretty).unwrap(), [ours]);
        }
    }

    #[test]
    fn fields_are_read_as_serde_reads_them() {
        let read = |json: &str| serde_json::from_str::<Ours>(json);
        // Unknown fields are skipped, defaults fill missing ones, a unit variant ignores what follows its tag.
        assert_eq!(
            read(r#"{"type":"struct","zzz":[1,{"a":2}],"name":"n"}"#).unwrap(),
            Ours::Struct {
                name: "n".into(),
                extra: None
            }
        );
        assert_eq!(read(r#"{"type":"unit","x":{"y":1}}"#).unwrap(), Ours::Unit);
        assert_eq!(
            read(r#"{"type":"newtype","a":1}"#).unwrap(),
            Ours::Newtype(Inner {
                a: 1,
                list: Vec::new()
            })
        );
        // Errors say what is wrong.
        for (json, error) in [
            (
                r#"{"name":"n","type":"struct"}"#,
                "`type` must be the first field",
            ),
            (r#"{}"#, "`type` must be the first field"),
            (r#"{"type":"nope"}"#, "unknown variant `nope`"),
            (r#"{"type":"struct"}"#, "missing field `name`"),
            (r#"{"type":"newtype","a":"x"}"#, "invalid type: string"),
            (r#"{"type":3}"#, "invalid type: integer `3`"),
            (r#"["unit"]"#, "invalid type: sequence"),
            (r#"{"type":"unit""#, "EOF"),
        ] {
            let err = read(json).unwrap_err().to_string();
            assert!(err.contains(error), "{json}: {err}");
        }
    }

    #[test]
    fn only_enums_are_written_with_a_tag() {
        let mut out = Vec::new();
        let mut json = serde_json::Serializer::new(&mut out);
        assert!(3u8
            .serialize(super::TagFirstSerializer::new(&mut json, "type"))
            .is_err());
        let inner = Inner {
            a: 1,
            list: Vec::new(),
        };
        assert!(inner
            .serialize(super::TagFirstSerializer::new(&mut json, "type"))
            .is_err());
        assert!(out.is_empty());
    }
}
