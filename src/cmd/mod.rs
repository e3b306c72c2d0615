pub mod check;
pub mod data;
pub mod export;
pub mod pipeline;
pub mod sweep;
pub mod train;
pub mod viz;
