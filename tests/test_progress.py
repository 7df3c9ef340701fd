"""What `vae train` prints: a live bar only on a terminal, one summary line per epoch, nothing when quiet."""

import io
import re

from rich.console import Console

from vaecli.training.callbacks import ProgressDisplay, format_losses

LOGS = {
    "loss": 120.5,
    "reconstruction_loss": 100.25,
    "kl_loss": 20.25,
    "val_loss": 130.0,
    "val_reconstruction_loss": 110.0,
    "val_kl_loss": 20.0,
}


def run_epoch(console, quiet=False):
    display = ProgressDisplay(console, epochs=3, steps_per_epoch=4, batch_size=32, quiet=quiet)
    display.on_epoch_begin(0)
    for step in range(4):
        display.on_train_batch_end(step, LOGS)
    display.on_epoch_end(0, LOGS)
    display.on_train_end()
    return console.file.getvalue()


def test_plain_output_is_one_line_per_epoch():
    lines = run_epoch(Console(file=io.StringIO(), force_terminal=False, width=200)).splitlines()
    assert len(lines) == 1
    assert re.fullmatch(
        r"epoch 1/3  loss 120\.5  reco 100\.2  kl 20\.25  \|  val_loss 130  val_reco 110  val_kl 20  "
        r"\(\d+\.\d s\)",
        lines[0],
    ), lines[0]


def test_terminal_shows_a_live_bar_with_speed_and_losses():
    output = run_epoch(Console(file=io.StringIO(), force_terminal=True, width=200))
    assert "4/4" in output and "img/s" in output and "loss 120.5" in output
    assert "epoch 1/3  loss 120.5" in output


def test_quiet_prints_nothing():
    assert run_epoch(Console(file=io.StringIO(), force_terminal=True, width=200), quiet=True) == ""


def test_format_losses_skips_missing_keys():
    assert format_losses({"loss": 1.0}) == "loss 1"
    assert format_losses({"loss": 1.0}, "val_") == ""
