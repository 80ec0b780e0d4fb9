"""The finetune stage: adapt models/pretrain to each labelled task, one module per task kind."""
