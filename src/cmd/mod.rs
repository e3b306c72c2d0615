pub mod check;
pub mod data;
pub mod train;
