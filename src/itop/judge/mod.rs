//! itop's verdicts over one interval's rates: is one CPU overloaded, is a device's load
//! handled on another NUMA node, and the view (sorting, folding, cutting) the renderers show.
//! Pure: values in, typed findings out.

pub(crate) mod balance;
pub(crate) mod numa;
pub(crate) mod view;
