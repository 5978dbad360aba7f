//! Turning tokenized windows into padded input tensors.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::bert::EncoderInput;
use crate::tokenizer::TokenizedWindow;

/// Pads a batch to its longest window (dynamic padding) with `pad_id`, type id 0 and mask 0.
pub fn pad_batch(windows: &[&TokenizedWindow], pad_id: u32, device: &Device) -> EncoderInput {
    let batch = windows.len();
    let seq = windows.iter().map(|w| w.len()).max().unwrap_or(0).max(1);
    let mut ids = vec![pad_id as i64; batch * seq];
    let mut types = vec![0i64; batch * seq];
    let mut mask = vec![0i64; batch * seq];
    for (row, window) in windows.iter().enumerate() {
        for (col, (&id, &ty)) in window
            .input_ids
            .iter()
            .zip(&window.token_type_ids)
            .enumerate()
        {
            ids[row * seq + col] = id as i64;
            types[row * seq + col] = ty as i64;
            mask[row * seq + col] = 1;
        }
    }
    let tensor = |values: Vec<i64>| {
        Tensor::<2, Int>::from_data(TensorData::new(values, [batch, seq]), device)
    };
    EncoderInput {
        input_ids: tensor(ids),
        token_type_ids: tensor(types),
        attention_mask: tensor(mask),
    }
}
