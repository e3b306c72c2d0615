//! ardent's trainer: variational ARD supernets on burn.

pub mod ard;
