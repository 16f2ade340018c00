//! `nn.Embedding`, over `F.embedding` (`src/tensor/embedding.rs`).

use std::cell::Cell;

use super::{Layer, Module, Setting};
use crate::base::{Device, Result, TensorError};
use crate::runtime::Runtime;
use crate::tensor::Tensor;

/// `nn.Embedding(num_embeddings, embedding_dim, padding_idx)`.
#[derive(Debug)]
pub struct Embedding {
    /// Shape (num_embeddings, embedding_dim), standard normal, the padding row zero.
    pub weight: Tensor,
    padding_idx: Option<i64>,
    training: Cell<bool>,
}

impl Embedding {
    /// The module with its weight on the host, drawn from the host generator (`normal_`), its
    /// `padding_idx` row then zeroed. A negative `padding_idx` counts from the end.
    pub fn new(
        rt: &Runtime,
        num_embeddings: usize,
        embedding_dim: usize,
        padding_idx: Option<i64>,
    ) -> Result<Embedding> {
        let n = num_embeddings as i64;
        let padding_idx = match padding_idx {
            Some(p) if p >= n => {
                return Err(TensorError::Invalid(
                    "Padding_idx must be within num_embeddings".into(),
                ))
            }
            Some(p) if p < -n => {
                return Err(TensorError::Invalid(
                    "Padding_idx must be within num_embeddings".into(),
                ))
            }
            Some(p) if p < 0 => Some(p + n),
            other => other,
        };
        let weight = rt.randn(&[num_embeddings, embedding_dim], Device::Cpu)?;
        if let Some(p) = padding_idx {
            weight.select_dim(0, p)?.fill_(0.0)?;
        }
        Ok(Embedding {
            weight: weight.requires_grad_(true)?,
            padding_idx,
            training: Cell::new(true),
        })
    }
}

impl Module for Embedding {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Tensor::embedding(&self.weight, x, self.padding_idx)
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![("weight".to_string(), self.weight.clone())]
    }

    fn train(&self, mode: bool) {
        self.training.set(mode);
    }

    fn is_training(&self) -> bool {
        self.training.get()
    }
}

impl Layer for Embedding {
    fn class_name(&self) -> &'static str {
        "Embedding"
    }

    fn setting(&self, name: &str) -> Option<Setting> {
        let s = self.weight.shape();
        Some(match name {
            "num_embeddings" => Setting::count(s[0]),
            "embedding_dim" => Setting::count(s[1]),
            "padding_idx" => self.padding_idx.map_or(Setting::None, Setting::Int),
            _ => return None,
        })
    }

    fn repr(&self) -> String {
        let s = self.weight.shape();
        match self.padding_idx {
            Some(p) => format!("Embedding({}, {}, padding_idx={p})", s[0], s[1]),
            None => format!("Embedding({}, {})", s[0], s[1]),
        }
    }

    fn with_tensors(&self, params: Vec<Tensor>, _buffers: Vec<Tensor>) -> Box<dyn Layer> {
        Box::new(Embedding {
            weight: params
                .into_iter()
                .next()
                .unwrap_or_else(|| self.weight.clone()),
            padding_idx: self.padding_idx,
            training: Cell::new(self.training.get()),
        })
    }
}
