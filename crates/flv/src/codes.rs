//! A helper macro for wire-code newtypes: a `pub struct Name(pub u8)` with named constants that
//! keeps values the specification does not define (so an unknown code is reported, not
//! mistaken), and a `Debug` that prints the specification name when there is one.

/// Declares a wire-code newtype. See the module docs.
macro_rules! wire_code {
    (
        $(#[$meta:meta])*
        pub struct $name:ident(u8) {
            $( $(#[$cmeta:meta])* $konst:ident = $value:literal => $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub u8);

        impl $name {
            $( $(#[$cmeta])* pub const $konst: $name = $name($value); )*

            /// The name the specification gives this value, or `None` if it defines none.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $value => Some($text), )*
                    _ => None,
                }
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{}::{}({})", stringify!($name), n, self.0),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }
    };
}

pub(crate) use wire_code;
