//! Running a model over many features, for evaluation during training and for the task
//! app's `eval` and `predict`.

use burn::tensor::Device;

use crate::task::{Metrics, Task};

/// Runs `task`'s model over `features` in batches and returns the outputs in feature order.
pub fn predict_all<T: Task>(
    task: &T,
    model: &T::Model,
    features: &[T::Feature],
    batch_size: usize,
    device: &Device,
) -> Vec<T::Output> {
    // Batches of similar length waste less compute on padding; the order is restored after.
    let mut order: Vec<usize> = (0..features.len()).collect();
    order.sort_by_key(|&i| task.feature_len(&features[i]));
    let mut outputs: Vec<Option<T::Output>> = vec![None; features.len()];
    for chunk in order.chunks(batch_size) {
        let batch: Vec<&T::Feature> = chunk.iter().map(|&i| &features[i]).collect();
        for (&i, output) in chunk.iter().zip(task.predict(model, &batch, device)) {
            outputs[i] = Some(output);
        }
    }
    outputs
        .into_iter()
        .map(|o| o.expect("every feature predicted"))
        .collect()
}

/// The task's metrics of `model` (inference mode, on the inner device) on a validation set.
pub fn evaluate<T: Task>(
    task: &T,
    model: &T::Model,
    examples: &[T::Example],
    features: &[T::Feature],
    batch_size: usize,
    device: &Device,
) -> Metrics {
    let outputs = predict_all(task, model, features, batch_size, device);
    task.evaluate(examples, features, &outputs)
}
