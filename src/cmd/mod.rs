pub mod check;
pub mod data;
pub mod export;
pub mod pipeline;
pub mod train;
