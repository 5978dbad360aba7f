//! The padding row of the word embeddings follows transformers' `nn.Embedding(padding_idx=
//! pad_token_id)`: it gets no gradient from its lookups, even when a loss reads the states of
//! padded positions (as the span head's softmax over a whole padded window does), while the
//! forward values stay those of the stored row.

mod common;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use common::*;
use encoder::{EncoderInput, load_pretrained_with};

fn input(ids: Vec<i64>, mask: Vec<i64>, device: &Device) -> EncoderInput {
    let shape = [2, ids.len() / 2];
    EncoderInput {
        input_ids: Tensor::<2, Int>::from_data(TensorData::new(ids, shape), device),
        token_type_ids: Tensor::<2, Int>::zeros(shape, device),
        attention_mask: Tensor::<2, Int>::from_data(TensorData::new(mask, shape), device),
    }
}

fn rows(t: Tensor<2>) -> Vec<Vec<f32>> {
    let [_, hidden] = t.dims();
    let flat = t
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    flat.chunks(hidden).map(<[f32]>::to_vec).collect()
}

#[test]
fn padding_row_gets_no_gradient_but_keeps_its_value() {
    let device = Device::flex().autodiff();
    // Dropout off, so the tracked and untracked forwards can be compared value for value.
    let pretrained = load_pretrained_with(&tiny("tiny-bert"), &device, |c| {
        c.hidden_dropout_prob = 0.0;
        c.attention_probs_dropout_prob = 0.0;
    })
    .unwrap();
    let model = pretrained.model;
    let pad = model.embeddings.padding_idx as i64;
    assert_eq!(pad, 0, "tiny-bert's config has pad_token_id 0");
    let ids = vec![2, 5, 6, 3, 2, 7, 3, pad];
    let mask = vec![1, 1, 1, 1, 1, 1, 1, 0];

    let states = model.forward(input(ids.clone(), mask.clone(), &device));
    let loss = states.last_hidden_state.clone().sum();
    let grads = loss.backward();
    let grad = rows(
        model
            .embeddings
            .word_embeddings
            .weight
            .grad(&grads)
            .unwrap(),
    );
    assert!(
        grad[pad as usize].iter().all(|&g| g == 0.0),
        "the padding row learned: {:?}",
        &grad[pad as usize][..4]
    );
    // The padded position is in the loss, so without the rule the row would have a gradient;
    // the rows looked up by real tokens do.
    for id in [5, 6, 7] {
        assert!(
            grad[id].iter().any(|&g| g != 0.0),
            "row {id} has no gradient"
        );
    }

    // Same values as the untracked forward: the padding row is still read, only not trained.
    // 1e-5: the tracked and untracked paths round differently (1.7e-6 seen); reading a zero
    // row instead would move the padded position's state by O(1) (tiny-bert's weights have
    // std 0.3).
    let plain = model.valid();
    let want = plain
        .forward(input(ids, mask, &Device::flex()))
        .last_hidden_state;
    let got = states.last_hidden_state.inner();
    let diff = max_abs_diff(&tensor_values(got), &tensor_values(want));
    assert!(diff < 1e-5, "forward changed by {diff}");
}
