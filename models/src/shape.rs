use std::fmt;

/// The shape of one sample at a vertex, without the batch axis: `[features]` for vectors,
/// `[channels, height, width]` for images. Axis 0 is always the feature (channel) axis, the one
/// along which candidate widths are padded and concat joins.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Shape(pub Vec<usize>);

impl Shape {
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Number of scalars in one sample.
    pub fn size(&self) -> usize {
        self.0.iter().product()
    }

    /// Width along the feature axis (axis 0); 0 for a scalar shape.
    pub fn features(&self) -> usize {
        self.0.first().copied().unwrap_or(0)
    }

    /// The same shape with another width on the feature axis.
    pub fn with_features(&self, features: usize) -> Shape {
        let mut dims = self.0.clone();
        if let Some(first) = dims.first_mut() {
            *first = features;
        }
        Shape(dims)
    }

    /// True when the two shapes agree on every axis but the feature axis.
    pub fn same_but_features(&self, other: &Shape) -> bool {
        self.rank() == other.rank() && self.0[1..] == other.0[1..]
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}
