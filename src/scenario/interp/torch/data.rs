//! `torch.utils.data`: datasets and the loader (`src/scenario/interp/data.rs`). Their handlers
//! may run the program's `__getitem__`, `__len__` and `collate_fn`, so they pass Python
//! exceptions through. `Dataset` and `IterableDataset`, the base classes, are in `stdlib`'s
//! module list.

use super::super::data;
use super::{entry, Function, Run};

/// `torch.utils.data.*`.
pub(super) const DATA: &[Function] = &[
    entry("TensorDataset", Run::Python(data::tensor_dataset)),
    entry("Subset", Run::Python(data::subset)),
    entry("random_split", Run::Python(data::random_split)),
    entry("DataLoader", Run::Python(data::data_loader)),
    entry("default_collate", Run::Python(data::default_collate)),
];
