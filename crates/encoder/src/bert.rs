//! The BERT encoder as Burn modules.
//!
//! One struct per module of transformers' `modeling_bert.py`, with the same names, so that a
//! weight's Burn path reads like its Hugging Face key (`encoder.layer.3.attention.output.dense`).
//! The only renames (Rust keywords and style) are listed in [`crate::key_map`].
//!
//! Shapes: `B` batch, `T` sequence length, `H` hidden size, `N` heads, `D = H / N`.
//!
//! The model keeps the [`Kernels`] it was built with and hands them down to every layer's
//! forward pass: linear layers, GELU, attention and dropout run fused on the CPU unless it was
//! built with [`Kernels::BURN`].

use burn::module::{Module, Param};
use burn::nn::{
    Dropout, DropoutConfig, Embedding, Initializer, LayerNorm, LayerNormConfig, Linear,
};
use burn::tensor::activation::{relu, silu};
use burn::tensor::{Device, Int, Tensor};
use kernels::Kernels;

use crate::config::{Activation, EncoderConfig};
use crate::ops::Ops;

/// A linear layer initialised like transformers' `_init_weights`: N(0, std) weights, zero bias.
/// The weight is stored Burn-style, `[in, out]`.
pub fn init_linear(d_input: usize, d_output: usize, std: f64, device: &Device) -> Linear {
    Linear {
        weight: Initializer::Normal { mean: 0.0, std }.init([d_input, d_output], device),
        bias: Some(Initializer::Zeros.init([d_output], device)),
    }
}

fn init_embedding(n: usize, d: usize, std: f64, device: &Device) -> Embedding {
    Embedding {
        weight: Initializer::Normal { mean: 0.0, std }.init([n, d], device),
    }
}

/// Word embeddings as transformers initialises them: N(0, std) with the padding row zeroed
/// (`nn.Embedding(padding_idx=pad_token_id)`). Lazy like every Burn initializer, so loading a
/// checkpoint over it never pays for the random draw.
fn init_word_embeddings(config: &EncoderConfig, device: &Device) -> Embedding {
    let (vocab, hidden) = (config.vocab_size, config.embedding_dim());
    let (std, pad) = (config.initializer_range, config.pad_id());
    let init = move |device: &Device, require_grad: bool| {
        let mut weight = Tensor::<2>::random(
            [vocab, hidden],
            burn::tensor::Distribution::Normal(0.0, std),
            device,
        );
        if pad < vocab {
            weight = weight.slice_assign(
                burn::tensor::s![pad..pad + 1, ..],
                Tensor::zeros([1, hidden], device),
            );
        }
        // Built before gradients are tracked, so the parameter is a leaf of the graph.
        if require_grad {
            weight = weight.require_grad();
        }
        weight
    };
    Embedding {
        weight: Param::uninitialized(
            burn::module::ParamId::new(),
            init,
            device.clone(),
            true,
            [vocab, hidden].into(),
        ),
    }
}

fn init_layer_norm(config: &EncoderConfig, device: &Device) -> LayerNorm {
    init_layer_norm_of(config.hidden_size, config, device)
}

fn init_layer_norm_of(width: usize, config: &EncoderConfig, device: &Device) -> LayerNorm {
    LayerNormConfig::new(width)
        .with_epsilon(config.layer_norm_eps)
        .init(device)
}

/// The post-LN residual step both `BertSelfOutput` and `BertOutput` end with:
/// LayerNorm(dropout(dense(hidden)) + residual).
fn project_add_norm(
    dense: &Linear,
    dropout: &Dropout,
    layer_norm: &LayerNorm,
    hidden: Tensor<3>,
    residual: Tensor<3>,
    kernels: &Kernels,
) -> Tensor<3> {
    layer_norm.forward(kernels.dropout(dropout, kernels.linear(dense, hidden)) + residual)
}

/// Inputs of one batch. `attention_mask` is 1 for real tokens and 0 for padding.
#[derive(Debug, Clone)]
pub struct EncoderInput {
    pub input_ids: Tensor<2, Int>,
    pub token_type_ids: Tensor<2, Int>,
    pub attention_mask: Tensor<2, Int>,
}

#[derive(Debug, Clone)]
pub struct EncoderOutput {
    /// `[B, T, H]`
    pub last_hidden_state: Tensor<3>,
    /// `[B, H]`: tanh(dense(first token)), when the model has a pooler.
    pub pooler_output: Option<Tensor<2>>,
}

/// `BertEmbeddings`: word + absolute position + token type, then LayerNorm and dropout.
/// The other families' embeddings differ only in what [`crate::ModelFamily`] lists: RoBERTa's
/// position ids, DistilBERT's missing token types, ELECTRA's width (`embedding_size`).
#[derive(Module, Debug)]
pub struct BertEmbeddings {
    pub word_embeddings: Embedding,
    pub position_embeddings: Embedding,
    /// `None` for DistilBERT, which has no token types.
    pub token_type_embeddings: Option<Embedding>,
    /// HF: `LayerNorm`.
    pub layer_norm: LayerNorm,
    pub dropout: Dropout,
    /// HF: `word_embeddings.padding_idx` (`config.pad_token_id`): lookups of this row pass
    /// no gradient back to it.
    pub padding_idx: usize,
    /// RoBERTa's position ids (`padding_idx + 1` onwards, padding at `padding_idx`).
    #[module(skip)]
    pub offset_positions: bool,
}

impl BertEmbeddings {
    pub fn new(config: &EncoderConfig, device: &Device) -> Self {
        let (std, width) = (config.initializer_range, config.embedding_dim());
        let family = config.family();
        let word = init_word_embeddings(config, device);
        Self {
            word_embeddings: word,
            position_embeddings: init_embedding(config.max_position_embeddings, width, std, device),
            token_type_embeddings: (family.has_token_types() && config.type_vocab_size > 0)
                .then(|| init_embedding(config.type_vocab_size, width, std, device)),
            layer_norm: init_layer_norm_of(width, config, device),
            dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
            padding_idx: config.pad_id(),
            offset_positions: family.offsets_positions(),
        }
    }

    /// Word embeddings of `input_ids`, with `nn.Embedding(padding_idx=...)`'s gradient rule:
    /// the padding row gets no gradient from its lookups. It matters where a loss reads the
    /// states of padded positions (the span head's softmax runs over the whole padded window,
    /// as in BertForQuestionAnswering); without it the padding row would learn there and
    /// transformers' would not.
    fn word_embeddings(&self, input_ids: Tensor<2, Int>) -> Tensor<3> {
        if !self.word_embeddings.weight.val().is_require_grad() {
            return self.word_embeddings.forward(input_ids);
        }
        let words = self.word_embeddings.forward(input_ids.clone());
        let [batch, seq, hidden] = words.dims();
        let padding = input_ids
            .equal_elem(self.padding_idx as i64)
            .unsqueeze_dim::<3>(2)
            .expand([batch, seq, hidden]);
        words.clone().mask_where(padding, words.detach())
    }

    /// Position ids of `[B, T]` ids: 0, 1, 2, ... (BERT), or RoBERTa's
    /// `padding_idx + cumsum(non-padding)` with padding kept at `padding_idx`.
    fn position_ids(&self, input_ids: &Tensor<2, Int>) -> Tensor<2, Int> {
        let [batch, seq] = input_ids.dims();
        if self.offset_positions {
            let real = input_ids
                .clone()
                .not_equal_elem(self.padding_idx as i64)
                .int();
            return real.clone().cumsum(1) * real + self.padding_idx as i64;
        }
        Tensor::<1, Int>::arange(0..seq as i64, &input_ids.device())
            .unsqueeze::<2>()
            .expand([batch, seq])
    }

    /// `[B, T]` ids -> `[B, T, E]` (`E` = `embedding_size` for ELECTRA, else the hidden size).
    /// The sum runs in BERT's order (word + token type + position), so BERT's numbers stay
    /// bit for bit what they were.
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        token_type_ids: Tensor<2, Int>,
        kernels: &Kernels,
    ) -> Tensor<3> {
        let position_ids = self.position_ids(&input_ids);
        let mut embeddings = self.word_embeddings(input_ids);
        if let Some(token_types) = &self.token_type_embeddings {
            // One token type (RoBERTa, XLM-R): every token is type 0, as their tokenizers
            // give no token_type_ids and transformers fills zeros.
            let token_type_ids = if token_types.weight.dims()[0] == 1 {
                token_type_ids.zeros_like()
            } else {
                token_type_ids
            };
            embeddings = embeddings + token_types.forward(token_type_ids);
        }
        let embeddings = embeddings + self.position_embeddings.forward(position_ids);
        kernels.dropout(&self.dropout, self.layer_norm.forward(embeddings))
    }
}

/// `BertSelfAttention`: scaled dot-product attention over all heads, with a padding mask.
#[derive(Module, Debug)]
pub struct BertSelfAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub dropout: Dropout,
    pub num_heads: usize,
    pub head_dim: usize,
}

impl BertSelfAttention {
    pub fn new(config: &EncoderConfig, device: &Device) -> Self {
        let (h, std) = (config.hidden_size, config.initializer_range);
        Self {
            query: init_linear(h, h, std, device),
            key: init_linear(h, h, std, device),
            value: init_linear(h, h, std, device),
            dropout: DropoutConfig::new(config.attention_probs_dropout_prob).init(),
            num_heads: config.num_attention_heads,
            head_dim: config.head_dim(),
        }
    }

    /// `[B, T, H]` -> `[B, N, T, D]`
    fn split_heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [batch, seq, _] = x.dims();
        x.reshape([batch, seq, self.num_heads, self.head_dim])
            .swap_dims(1, 2)
    }

    /// `mask_bias` is `[B, 1, 1, T]`: 0 where attention is allowed, a large negative number on
    /// padding (see [`BertModel::mask_bias`]).
    pub fn forward(&self, hidden: Tensor<3>, mask_bias: Tensor<4>, kernels: &Kernels) -> Tensor<3> {
        let [batch, seq, hidden_size] = hidden.dims();
        let q = kernels.linear(&self.query, hidden.clone());
        let k = kernels.linear(&self.key, hidden.clone());
        let v = kernels.linear(&self.value, hidden);
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        if kernels.fused_attention_applies(&q, &mask_bias) {
            // On the CPU: one kernel (and one backward), no head-splitting copies; the same
            // result and dropout masks as the operations below.
            return kernels.fused_attention(
                q,
                k,
                v,
                mask_bias,
                self.num_heads,
                scale,
                &self.dropout,
            );
        }
        let (q, k, v) = (
            self.split_heads(q),
            self.split_heads(k),
            self.split_heads(v),
        );
        // softmax(QKᵀ/√d + mask), fused into one pass per row on the CPU.
        let probs = kernels.attention_softmax(q.matmul(k.transpose()), mask_bias, scale);
        let probs = kernels.dropout(&self.dropout, probs);
        probs
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([batch, seq, hidden_size])
    }
}

/// `BertSelfOutput`: projection, dropout, residual, LayerNorm (post-LN).
#[derive(Module, Debug)]
pub struct BertSelfOutput {
    pub dense: Linear,
    /// HF: `LayerNorm`.
    pub layer_norm: LayerNorm,
    pub dropout: Dropout,
}

impl BertSelfOutput {
    pub fn new(config: &EncoderConfig, device: &Device) -> Self {
        let h = config.hidden_size;
        Self {
            dense: init_linear(h, h, config.initializer_range, device),
            layer_norm: init_layer_norm(config, device),
            dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
        }
    }

    pub fn forward(&self, hidden: Tensor<3>, residual: Tensor<3>, kernels: &Kernels) -> Tensor<3> {
        project_add_norm(
            &self.dense,
            &self.dropout,
            &self.layer_norm,
            hidden,
            residual,
            kernels,
        )
    }
}

/// `BertAttention`.
#[derive(Module, Debug)]
pub struct BertAttention {
    /// HF: `self` (a Rust keyword).
    pub self_attention: BertSelfAttention,
    pub output: BertSelfOutput,
}

impl BertAttention {
    pub fn new(config: &EncoderConfig, device: &Device) -> Self {
        Self {
            self_attention: BertSelfAttention::new(config, device),
            output: BertSelfOutput::new(config, device),
        }
    }

    pub fn forward(&self, hidden: Tensor<3>, mask_bias: Tensor<4>, kernels: &Kernels) -> Tensor<3> {
        let attended = self
            .self_attention
            .forward(hidden.clone(), mask_bias, kernels);
        self.output.forward(attended, hidden, kernels)
    }
}

/// `BertIntermediate`: the feed-forward expansion and its activation.
#[derive(Module, Debug)]
pub struct BertIntermediate {
    pub dense: Linear,
    #[module(skip)]
    pub activation: Activation,
}

impl BertIntermediate {
    pub fn new(config: &EncoderConfig, device: &Device) -> Self {
        Self {
            dense: init_linear(
                config.hidden_size,
                config.intermediate_size,
                config.initializer_range,
                device,
            ),
            activation: config.activation(),
        }
    }

    pub fn forward(&self, hidden: Tensor<3>, kernels: &Kernels) -> Tensor<3> {
        let x = kernels.linear(&self.dense, hidden);
        match self.activation {
            // The exact erf form, as transformers' "gelu" (a fused kernel on the CPU).
            Activation::Gelu => kernels.gelu(x),
            Activation::GeluTanh => burn::tensor::activation::gelu_approximate(x),
            Activation::Relu => relu(x),
            Activation::Silu => silu(x),
        }
    }
}

/// `BertOutput`: the feed-forward contraction, dropout, residual, LayerNorm.
#[derive(Module, Debug)]
pub struct BertOutput {
    pub dense: Linear,
    /// HF: `LayerNorm`.
    pub layer_norm: LayerNorm,
    pub dropout: Dropout,
}

impl BertOutput {
    pub fn new(config: &EncoderConfig, device: &Device) -> Self {
        Self {
            dense: init_linear(
                config.intermediate_size,
                config.hidden_size,
                config.initializer_range,
                device,
            ),
            layer_norm: init_layer_norm(config, device),
            dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
        }
    }

    pub fn forward(&self, hidden: Tensor<3>, residual: Tensor<3>, kernels: &Kernels) -> Tensor<3> {
        project_add_norm(
            &self.dense,
            &self.dropout,
            &self.layer_norm,
            hidden,
            residual,
            kernels,
        )
    }
}

/// `BertLayer`: attention block then feed-forward block.
#[derive(Module, Debug)]
pub struct BertLayer {
    pub attention: BertAttention,
    pub intermediate: BertIntermediate,
    pub output: BertOutput,
}

impl BertLayer {
    pub fn new(config: &EncoderConfig, device: &Device) -> Self {
        Self {
            attention: BertAttention::new(config, device),
            intermediate: BertIntermediate::new(config, device),
            output: BertOutput::new(config, device),
        }
    }

    pub fn forward(&self, hidden: Tensor<3>, mask_bias: Tensor<4>, kernels: &Kernels) -> Tensor<3> {
        let attended = self.attention.forward(hidden, mask_bias, kernels);
        let expanded = self.intermediate.forward(attended.clone(), kernels);
        self.output.forward(expanded, attended, kernels)
    }
}

/// `BertEncoder`: the stack of layers.
#[derive(Module, Debug)]
pub struct BertEncoder {
    pub layer: Vec<BertLayer>,
}

/// `BertPooler`: tanh(dense(hidden state of the first token)).
#[derive(Module, Debug)]
pub struct BertPooler {
    pub dense: Linear,
}

impl BertPooler {
    pub fn new(config: &EncoderConfig, device: &Device) -> Self {
        let h = config.hidden_size;
        Self {
            dense: init_linear(h, h, config.initializer_range, device),
        }
    }

    /// `[B, T, H]` -> `[B, H]`
    pub fn forward(&self, hidden: Tensor<3>) -> Tensor<2> {
        let [batch, _, h] = hidden.dims();
        let first = hidden.narrow(1, 0, 1).reshape([batch, h]);
        self.dense.forward(first).tanh()
    }
}

/// `BertModel`: embeddings, encoder and (optionally) the pooler; with ELECTRA's projection of
/// narrower embeddings to the hidden size where a config asks for it.
#[derive(Module, Debug)]
pub struct BertModel {
    pub embeddings: BertEmbeddings,
    /// ELECTRA's `embeddings_project` (`embedding_size` -> `hidden_size`).
    pub embeddings_project: Option<Linear>,
    pub encoder: BertEncoder,
    pub pooler: Option<BertPooler>,
    /// How the layers compute (not a weight): set once by whoever builds the model.
    #[module(skip)]
    pub kernels: Kernels,
}

impl BertModel {
    /// A randomly initialised model (transformers' `_init_weights`), for training from scratch,
    /// tests, and as the skeleton that a checkpoint is loaded into. It computes with the
    /// default [`Kernels`] as they apply on `device` (fused on the CPU, Burn's operations on
    /// a GPU); see [`BertModel::with_kernels`].
    pub fn new(config: &EncoderConfig, with_pooler: bool, device: &Device) -> Self {
        let width = config.embedding_dim();
        Self {
            embeddings: BertEmbeddings::new(config, device),
            embeddings_project: (width != config.hidden_size)
                .then(|| init_linear(width, config.hidden_size, config.initializer_range, device)),
            encoder: BertEncoder {
                layer: (0..config.num_hidden_layers)
                    .map(|_| BertLayer::new(config, device))
                    .collect(),
            },
            pooler: with_pooler.then(|| BertPooler::new(config, device)),
            kernels: Kernels::default().for_device(device),
        }
    }

    /// The same model computing with `kernels`.
    pub fn with_kernels(mut self, kernels: Kernels) -> Self {
        self.kernels = kernels;
        self
    }

    /// The linear and dropout operations a task head applies, with this model's kernels.
    pub fn ops(&self) -> Ops {
        Ops(self.kernels)
    }

    pub fn num_layers(&self) -> usize {
        self.encoder.layer.len()
    }

    /// The rows of the word embedding matrix (the vocabulary the model can read).
    pub fn vocab_size(&self) -> usize {
        self.embeddings.word_embeddings.weight.dims()[0]
    }

    /// transformers' `resize_token_embeddings` for tokens added to the tokenizer: the word
    /// embeddings grow to `rows`, the new rows at the mean of the existing ones. That is what
    /// transformers' default (`mean_resizing=True`) draws them around: its draws have a
    /// covariance of 1e-9 times the embeddings' own, about 3e-5 of their spread, which this
    /// leaves out, so the rows are the same on every run. The existing rows and the
    /// parameter's identity are kept; a matrix already as large is left as it is.
    pub fn resize_token_embeddings(mut self, rows: usize) -> Self {
        let old = self.vocab_size();
        if rows <= old {
            return self;
        }
        let param = self.embeddings.word_embeddings.weight;
        self.embeddings.word_embeddings.weight = param.map(|weight| {
            let require_grad = weight.is_require_grad();
            let [_, width] = weight.dims();
            let mean = weight.clone().mean_dim(0).expand([rows - old, width]);
            // Rebuilt from its values, so that the parameter is a leaf of the graph again.
            let device = weight.device();
            let grown = Tensor::cat(vec![weight, mean], 0).into_data();
            let grown = Tensor::<2>::from_data(grown, &device);
            if require_grad {
                grown.require_grad()
            } else {
                grown
            }
        });
        self
    }

    pub fn hidden_size(&self) -> usize {
        match &self.embeddings_project {
            Some(project) => project.weight.dims()[1],
            None => self.embeddings.word_embeddings.weight.dims()[1],
        }
    }

    /// The additive attention bias for a `[B, T]` 0/1 mask: `[B, 1, 1, T]`, 0 on tokens and the
    /// most negative f32 on padding, as transformers' `get_extended_attention_mask` does.
    pub fn mask_bias(attention_mask: Tensor<2, Int>) -> Tensor<4> {
        let [batch, seq] = attention_mask.dims();
        let padding = attention_mask.float().neg() + 1.0;
        (padding * f32::MIN).reshape([batch, 1, 1, seq])
    }

    pub fn forward(&self, input: EncoderInput) -> EncoderOutput {
        let mask_bias = Self::mask_bias(input.attention_mask);
        let kernels = &self.kernels;
        let mut hidden = self
            .embeddings
            .forward(input.input_ids, input.token_type_ids, kernels);
        if let Some(project) = &self.embeddings_project {
            hidden = kernels.linear(project, hidden);
        }
        for layer in &self.encoder.layer {
            hidden = layer.forward(hidden, mask_bias.clone(), kernels);
        }
        let pooler_output = self.pooler.as_ref().map(|p| p.forward(hidden.clone()));
        EncoderOutput {
            last_hidden_state: hidden,
            pooler_output,
        }
    }
}
