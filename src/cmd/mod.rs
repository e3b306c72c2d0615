pub mod check;
pub mod data;
