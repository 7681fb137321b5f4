"""Tiny random annotator checkpoints in the published layouts (for tests and the demo mode).

``build_tiny_annotators(root)`` writes, under ``root``, one directory per annotator with ``config.json``,
``model.safetensors`` and the processor files, exactly as ``save_pretrained`` writes the published
checkpoints, and returns the Settings overrides that point at them::

    depth_model      Depth-Anything-V2 (DepthAnythingForDepthEstimation, Dinov2 backbone) + DPTImageProcessor
    pose_model       ViTPose (VitPoseForPoseEstimation) + VitPoseImageProcessor
    person_model     RT-DETR (RTDetrForObjectDetection, ResNet backbone) + RTDetrImageProcessor
    grounding_model  Grounding DINO (GroundingDinoForObjectDetection, Swin + BERT) + processor + BERT tokenizer
    sam2_model       SAM 2.1 saved as ``Sam2VideoModel`` (model_type ``sam2_video``, as published); the same
                     directory loads with ``Sam2Model`` (image) and ``Sam2VideoModel`` (video), and holds both
                     processors' settings in ``processor_config.json``

Determinism for tests (random detectors rarely find anything): the RT-DETR class head is biased so that
every query is a confident "person" (label 0), and the ViTPose head is biased so that every keypoint has a
confident peak. Grounding DINO stays random; callers control "found"/"not found" with its thresholds.
The build is idempotent: a marker file records a finished build and a second call only reads it.
"""

from __future__ import annotations

import json
from pathlib import Path

MARKER = "tiny_annotators.json"
SAM2_SIZE = 128  # tiny SAM 2 input side (the published models use 1024)

# BERT word pieces for the tiny Grounding DINO tokenizer: enough for test prompts, the rest splits to letters.
_WORDS = (
    "the a an of and in on with to make turn paint white red blue green black yellow bird dog cat person man "
    "woman car tree house box ball sky cup square circle object"
).split()


def build_tiny_annotators(root: Path) -> dict[str, str]:
    """Write the tiny annotator checkpoints under ``root`` (once) and return the Settings overrides."""
    root = Path(root).resolve()
    marker = root / MARKER
    if marker.is_file():
        return json.loads(marker.read_text(encoding="utf-8"))
    import torch

    torch.manual_seed(0)
    root.mkdir(parents=True, exist_ok=True)
    overrides = {
        "depth_model": str(_build_depth(root / "depth-anything-v2-tiny")),
        "pose_model": str(_build_vitpose(root / "vitpose-tiny")),
        "person_model": str(_build_rtdetr(root / "rtdetr-tiny")),
        "grounding_model": str(_build_grounding_dino(root / "grounding-dino-tiny")),
        "sam2_model": str(_build_sam2(root / "sam2.1-hiera-tiny-random")),
    }
    marker.write_text(json.dumps(overrides, indent=2), encoding="utf-8")
    return overrides


def _build_depth(path: Path) -> Path:
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, DPTImageProcessor

    backbone = {
        "model_type": "dinov2",
        "hidden_size": 16,
        "num_hidden_layers": 4,
        "num_attention_heads": 2,
        "mlp_ratio": 2,
        "image_size": 56,
        "patch_size": 14,
        "out_indices": [1, 2, 3, 4],
        "reshape_hidden_states": False,
        "apply_layernorm": True,
    }
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=16,
        neck_hidden_sizes=[8, 16, 16, 16],
        fusion_hidden_size=16,
        head_hidden_size=8,
        patch_size=14,
    )
    DepthAnythingForDepthEstimation(config).save_pretrained(path)
    DPTImageProcessor(
        size={"height": 56, "width": 56},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        do_pad=False,
        resample=3,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(path)
    return path


def _build_vitpose(path: Path) -> Path:
    import torch
    from transformers import VitPoseConfig, VitPoseForPoseEstimation, VitPoseImageProcessor

    backbone = {
        "model_type": "vitpose_backbone",
        "image_size": [64, 48],
        "patch_size": [16, 16],
        "hidden_size": 16,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "mlp_ratio": 2,
        "part_features": 4,
        "out_indices": [2],
    }
    config = VitPoseConfig(backbone_config=backbone, num_labels=17, use_simple_decoder=True)
    model = VitPoseForPoseEstimation(config)
    with torch.no_grad():  # every heatmap gets a confident (if arbitrary) peak
        model.head.conv.bias.fill_(1.0)
    model.save_pretrained(path)
    VitPoseImageProcessor(size={"height": 64, "width": 48}).save_pretrained(path)
    return path


def _build_rtdetr(path: Path) -> Path:
    import torch
    from transformers import RTDetrConfig, RTDetrForObjectDetection, RTDetrImageProcessor

    backbone = {
        "model_type": "rt_detr_resnet",
        "embedding_size": 8,
        "hidden_sizes": [8, 16, 16, 16],
        "depths": [1, 1, 1, 1],
        "layer_type": "basic",
        "out_features": ["stage2", "stage3", "stage4"],
    }
    config = RTDetrConfig(
        backbone_config=backbone,
        encoder_hidden_dim=16,
        encoder_in_channels=[16, 16, 16],
        encoder_ffn_dim=16,
        encoder_attention_heads=2,
        d_model=16,
        num_queries=3,
        decoder_in_channels=[16, 16, 16],
        decoder_ffn_dim=16,
        decoder_layers=2,
        decoder_attention_heads=2,
        decoder_n_points=2,
        num_denoising=0,
        num_labels=2,
        id2label={0: "person", 1: "bicycle"},
        label2id={"person": 0, "bicycle": 1},
        anchor_image_size=None,
    )
    model = RTDetrForObjectDetection(config)
    with torch.no_grad():  # every query is a confident person (tests need a deterministic detection)
        heads = list(model.model.decoder.class_embed) + [model.model.enc_score_head]
        for head in heads:
            head.weight.zero_()
            head.bias.copy_(torch.tensor([8.0, -8.0]))
    model.save_pretrained(path)
    RTDetrImageProcessor(size={"height": 64, "width": 64}).save_pretrained(path)
    return path


def _build_grounding_dino(path: Path) -> Path:
    from transformers import (
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
    )

    letters = list("abcdefghijklmnopqrstuvwxyz0123456789")
    vocab_list = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "!", "?", "'", "-"]
    vocab_list += _WORDS + letters + ["##" + c for c in letters]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(vocab_list))}
    tokenizer = BertTokenizer(vocab=vocab, do_lower_case=True)
    swin = {
        "model_type": "swin",
        "window_size": 7,
        "embed_dim": 8,
        "depths": [1, 1, 1, 1],
        "num_heads": [1, 1, 1, 1],
        "image_size": 128,
        "out_indices": [2, 3, 4],
    }
    text = {
        "model_type": "bert",
        "vocab_size": len(vocab),
        "hidden_size": 8,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 8,
        "max_position_embeddings": 64,
    }
    config = GroundingDinoConfig(
        backbone_config=swin,
        use_timm_backbone=False,
        text_config=text,
        d_model=32,  # GroupNorm(32, d_model) in the input projections
        encoder_layers=1,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=16,
        decoder_ffn_dim=16,
        num_queries=5,
        num_feature_levels=4,
        encoder_n_points=2,
        decoder_n_points=2,
        max_text_len=32,
    )
    GroundingDinoForObjectDetection(config).save_pretrained(path)
    image_processor = GroundingDinoImageProcessor(size={"shortest_edge": 128, "longest_edge": 192})
    GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(path)
    return path


def _build_sam2(path: Path) -> Path:
    from transformers import (
        Sam2ImageProcessor,
        Sam2Processor,
        Sam2VideoConfig,
        Sam2VideoModel,
        Sam2VideoProcessor,
        Sam2VideoVideoProcessor,
    )

    s = SAM2_SIZE
    vision = {
        "backbone_config": {
            "model_type": "sam2_hiera_det_model",
            "hidden_size": 16,
            "num_attention_heads": 1,
            "image_size": [s, s],
            "blocks_per_stage": [1, 1, 2, 1],
            "embed_dim_per_stage": [16, 32, 64, 128],
            "num_attention_heads_per_stage": [1, 1, 1, 1],
            "window_size_per_stage": [4, 4, 4, 4],
            "global_attention_blocks": [3],  # never the first block of a stage (query pooling needs a window)
            "window_positional_embedding_background_size": [2, 2],
        },
        "backbone_channel_list": [128, 64, 32, 16],
        "backbone_feature_sizes": [[s // 4, s // 4], [s // 8, s // 8], [s // 16, s // 16]],
        "fpn_hidden_size": 128,
    }
    # memory dims: the video model hard-codes a 64-wide memory key/value input, so keep those at 64 / 128
    config = Sam2VideoConfig(
        vision_config=vision,
        prompt_encoder_config={"hidden_size": 128, "image_size": s, "patch_size": 16, "mask_input_channels": 4},
        mask_decoder_config={"hidden_size": 128, "mlp_dim": 32, "num_attention_heads": 2, "iou_head_hidden_dim": 32},
        image_size=s,
        num_maskmem=2,
        memory_attention_hidden_size=128,
        memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=32,
        memory_attention_rope_feat_sizes=[s // 16, s // 16],
        memory_encoder_hidden_size=128,
        memory_encoder_output_channels=64,
        mask_downsampler_embed_dim=128,
        memory_fuser_embed_dim=128,
        memory_fuser_intermediate_dim=32,
    )
    Sam2VideoModel(config).save_pretrained(path)
    image_processor = Sam2ImageProcessor(size={"height": s, "width": s}, mask_size={"height": s // 4, "width": s // 4})
    Sam2Processor(image_processor=image_processor).save_pretrained(path)
    Sam2VideoProcessor(
        image_processor=image_processor, video_processor=Sam2VideoVideoProcessor(size={"height": s, "width": s})
    ).save_pretrained(path)
    return path
