pub mod check;
pub mod data;
pub mod export;
pub mod train;
