"""Config composition and validation: the contract the sweeps rely on."""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

import tasks
from zoo.config import ModelConfig, TrainerConfig, compose_config, renamed
from zoo.errors import ZooError


def test_defaults_use_the_tasks_natural_topology(make_config):
    assert make_config("task=imdb").topology_name == "many_to_one"
    assert make_config("task=bp").topology_name == "one_to_one"
    assert make_config("task=bp", "topology=many_to_one").topology_name == "many_to_one"


def test_contract_names(make_config):
    cfg = make_config("task=bp", "cell=lstm", "model.layers=2", "model.bidirectional=true", "trainer.epochs=3",
                      "trainer.limit_batches=4", "task.limit=100", "seed=7", "trainer.clipnorm=null")
    assert cfg.cell.name == "lstm" and cfg.model.layers == 2 and cfg.model.bidirectional
    assert cfg.trainer.epochs == 3 and cfg.trainer.limit_batches == 4 and cfg.trainer.clipnorm is None
    assert cfg.task.limit == 100 and cfg.seed == 7
    assert set(cfg.trainer) >= {"batch_size", "learning_rate", "patience", "jit_compile"}
    assert set(cfg.model) == {"units", "layers", "bidirectional", "dropout", "word_dropout", "bigram_buckets",
                              "bigram_dropout", "embedding_dim", "char_units", "attention", "pooling", "unroll"}


def test_data_dir_defaults_to_the_environment(monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", "/somewhere")
    with initialize_config_dir(config_dir=str(Path(__file__).parents[1] / "conf"), version_base="1.3"):
        assert compose("config").paths.data_dir == "/somewhere"
        monkeypatch.delenv("ZOO_DATA_DIR")
        assert compose("config").paths.data_dir == "data"


def test_wrong_type_fails_at_compose_time(make_config):
    with pytest.raises(ConfigCompositionException) as error:
        make_config("trainer.epochs=abc")
    assert isinstance(error.value.__cause__, ValidationError)
    assert "trainer.epochs" in str(error.value.__cause__)
    with pytest.raises(ConfigCompositionException):
        make_config("task=imdb", "task.max_length=long")


def test_unknown_key_fails(make_config):
    with pytest.raises(ConfigCompositionException) as error:
        make_config("model.unitz=3")
    assert "Key 'unitz' not in 'ModelConfig'" in str(error.value.__cause__)
    with pytest.raises(ConfigCompositionException):
        make_config("task=bp", "task.max_length=3")  # an imdb key on the bp task


def test_unknown_group_option_lists_the_valid_ones(make_config):
    with pytest.raises(Exception, match=r"(?s)Could not find 'cell/rnn'.*gru.*lstm.*simple_rnn"):
        make_config("cell=rnn")
    with pytest.raises(Exception, match=r"(?s)Could not find 'topology/star'.*many_to_one.*synced"):
        make_config("topology=star")


@pytest.mark.parametrize("override,message", [
    ("model.units=0", "model.units must be > 0"),
    ("model.dropout=1.5", "model.dropout must be in"),
    ("trainer.batch_size=-1", "trainer.batch_size must be > 0"),
    ("trainer.limit_batches=0", "trainer.limit_batches must be > 0"),
])
def test_sizes_must_be_positive(make_config, override, message):
    cfg = make_config(override)
    with pytest.raises(ZooError, match=message):
        OmegaConf.to_object(cfg.model if override.startswith("model") else cfg.trainer)


def test_task_limit_must_be_positive(make_config):
    with pytest.raises(ZooError, match="task.limit must be > 0, got 0"):
        OmegaConf.to_object(make_config("task=bp", "task.limit=0").task)


@pytest.mark.parametrize("overrides,message", [
    (["task=imdb", "task.max_length=0"], "task.max_length must be > 0, got 0"),
    (["task=imdb", "task.vocabulary_size=-5"], "task.vocabulary_size must be > 0, got -5"),
    (["task=imdb", "task.val_fraction=1.0"], r"task.val_fraction must be in \(0, 1\), got 1.0"),
    (["task=bp", "task.val_fraction=0.5", "task.test_fraction=0.5"],
     "task.val_fraction \\+ test_fraction must be below 1"),
    (["task=translation", "task.test_fraction=0"], r"task.test_fraction must be in \(0, 1\), got 0"),
    (["task=shakespeare", "task.seq_len=0"], "task.seq_len must be > 0, got 0"),
])
def test_task_sizes_and_shares_are_checked(make_config, overrides, message):
    with pytest.raises(ZooError, match=message):
        OmegaConf.to_object(make_config(*overrides).task)


def test_valid_configs_convert(make_config):
    cfg = make_config()
    assert isinstance(OmegaConf.to_object(cfg.model), ModelConfig)
    assert isinstance(OmegaConf.to_object(cfg.trainer), TrainerConfig)


def test_task_defaults_yield_to_debug_presets_and_the_command_line(make_config):
    imdb = make_config("task=imdb")
    assert imdb.model.dropout == 0.5 and imdb.trainer.epochs == 5  # set by conf/task/imdb.yaml
    assert make_config("task=bp").model.dropout == 0.0
    quick = make_config("task=imdb", "debug=quick")
    assert quick.trainer.epochs == 1 and quick.trainer.limit_batches == 5
    assert make_config("task=imdb", "model.dropout=0.1").model.dropout == 0.1


def test_experiment_preset_is_a_sweep(make_config):
    with initialize_config_dir(config_dir=str(Path(__file__).parents[1] / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["experiment=foundation"], return_hydra_config=True)
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert dict(cfg.hydra.sweeper.params) == {"task": "imdb,bp", "cell": "simple_rnn,lstm,gru"}


def test_pos_regularized_preset_is_the_measured_tagger():
    cfg = compose_config(["experiment=pos_regularized"])
    assert (cfg.task.name, cfg.cell.name, cfg.model.char_units, cfg.model.dropout, cfg.model.word_dropout,
            cfg.model.units, cfg.trainer.epochs) == ("pos", "gru", 64, 0.5, 0.25, 128, 15)


def test_imdb_fast_preset_sets_the_searched_gru():
    cfg = compose_config(["experiment=imdb_fast"])
    assert (cfg.task.name, cfg.cell.name, cfg.model.embedding_dim, cfg.model.dropout) == ("imdb", "gru", 32, 0.0)
    assert (cfg.trainer.learning_rate, cfg.trainer.epochs) == (0.006, 3)


def test_the_old_task_name_frames_still_works_with_a_notice(capsys):
    assert renamed(["task=frames", "cell=gru", "experiment=frames_regularized", "task=imdb,frames"]) == [
        "task=pos", "cell=gru", "experiment=pos_regularized", "task=imdb,pos"]
    assert capsys.readouterr().err.splitlines() == [
        "note: task=frames is now task=pos", "note: experiment=frames_regularized is now experiment=pos_regularized",
        "note: task=frames is now task=pos"]
    assert compose_config(["task=frames"]).task.name == "pos"
    assert tasks.module("frames") is tasks.module("pos")  # run folders saved under the old name still load


def test_imdb_best_preset_is_the_measured_setting():
    cfg = compose_config(["experiment=imdb_best"])
    assert (cfg.task.name, cfg.cell.name, cfg.task.vocabulary_size, cfg.task.max_length, cfg.task.marks,
            cfg.model.pooling.name, cfg.model.word_dropout, cfg.model.dropout, cfg.model.bigram_buckets,
            cfg.model.bigram_dropout, cfg.trainer.epochs, cfg.trainer.batch_size, cfg.trainer.learning_rate,
            cfg.trainer.lr_decay) == ("imdb", "gru", 20000, 800, True, "attention", 0.6, 0.5, 100000, 0.5, 7, 128,
                                      0.002, 0.85)


def test_translation_best_preset_is_the_measured_setting():
    cfg = compose_config(["experiment=translation_best"])
    assert (cfg.task.name, cfg.cell.name, cfg.task.tokens.name, cfg.task.beam_size, cfg.task.write_unknown,
            cfg.model.bidirectional, cfg.model.dropout, cfg.model.attention.name, cfg.trainer.epochs,
            cfg.trainer.lr_decay) == ("translation", "gru", "words", 4, False, True, 0.2, "luong", 14, 0.85)
