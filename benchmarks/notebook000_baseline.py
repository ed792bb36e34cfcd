"""Notebook 000's hand-written network loop, copied as a function: the baseline redes is timed against.

Source: /work/shared/seeds/000_ae1c4dcbb5e1d071.txt (CC6204 Deep Learning, Universidad de Chile,
"Código de Red Neuronal 'a mano'", by Jorge Pérez). The algorithm is kept as written, including
its inefficiencies, because that is what the benchmark measures:
  - `elige_batch` picks every sample of a batch with its own `np.random.randint`, slices it out
    and appends it to a list, then `torch.cat`s the lists;
  - `sig` and `tanh` are written with `torch.exp` and `torch.reciprocal`;
  - the loss clamps `y_pred` in place (so the gradient (y_pred - y)/b uses the clamped values);
  - the backward pass recomputes `sig(u2)` twice and `tanh(u1)` twice instead of reusing h2, h1;
  - the update walks the parameter dict, `parametros[P] -= lr * gradientes[P]`;
  - every `reports_every` epochs it evaluates the whole set (outside the timed part) and prints
    `Epoch / Acc / Loss / Tiempo/epoch`, where Tiempo/epoch = tiempo_epochs / e (training time only).

Changed from the notebook, only where Python 3 / current torch / no GPU force it:
  - `time.clock()` (removed in Python 3.8) -> `time.perf_counter()`. Note: on Linux `time.clock`
    was process CPU time; perf_counter is wall-clock time, which is what the redes history records.
  - `.type(t_type)` with `torch.cuda.FloatTensor`/`torch.FloatTensor` -> `.to(torch.float32)` on the
    CPU (a no-op for float32 tensors, kept where the notebook converts); `run_in_GPU` is gone (no GPU).
  - Colab install cell, `ipdb` and the unused `cheq_grad` argument dropped.
  - torch 0.3's `torch.sum` returned a Python number, current torch returns a 0-d tensor: the
    accuracy and loss are turned into floats with `float()` for printing and returning.
  - The function returns seconds per epoch and the final accuracy/loss (besides the parameters),
    the report is printed only with `verbose=True`, and the last epoch is always reported so that
    final accuracy/loss exist; `seed` seeds torch (the notebook's 1547) and NumPy's global RNG
    (the notebook left NumPy unseeded).

`preset` gives the same network as a redes config (notebook000), for the scripts that time
redes against this loop (benchmarks/notebook000.py, benchmarks/investigations/profile_step.py).

Run the notebook's last cell (b=32, d1=300, d2=400, lr=0.06, init_v=0.8, 30 epochs) on the CPU:
    .venv/bin/python benchmarks/notebook000_baseline.py
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

T_TYPE = torch.float32  # the notebook's torch.FloatTensor (CPU); no GPU here
PRESET = "notebook000"  # redes' preset of the notebook


# Funciones de activación:

# Función sigmoid, recibe un objeto torch.Tensor
def sig(T):
    return torch.reciprocal(1 + torch.exp(-1 * T))


# Función tanh, recibe un objeto torch.Tensor
def tanh(T):
    E = torch.exp(T)
    e = torch.exp(-1 * T)
    return (E - e) * torch.reciprocal(E + e)


# Función de pérdida
def bi_cross_ent_loss(y_pred, y, safe=True, epsilon=1e-5):
    N = y.size()[0]

    if safe:
        # Asegura que no haya valores indefinidos.
        y_pred.clamp_(epsilon, 1 - epsilon)

    B = (1 - y) * torch.log(1 - y_pred) + y * torch.log(y_pred)
    return -1 / N * torch.sum(B)


# Para elegir el siguiente batch (uno al azar) desde los datos de entrada
def elige_batch(X, Y, b):
    N = X.size()[0]
    x_lista = []
    y_lista = []

    #  i = np.random.randint(N-b) # <-- descomentar esto para ejemplos
    for _ in range(b):
        i = np.random.randint(N)  # <-- comentar esto para ejemplos
        x_lista.append(X[i:i + 1])
        y_lista.append(Y[i:i + 1])

    x = torch.cat(x_lista, dim=0)
    y = torch.cat(y_lista, dim=0)

    return x, y


def ejemplo_FFNN(X, Y, b=1, d1=200, d2=300, lr=0.06, epochs=10, reports_every=1, init_v=1,
                 verbose=True, seed=None):
    """Train notebook 000's 2-hidden-layer network by hand; returns seconds/epoch, final acc/loss, params.

    X: (N, f) float tensor, Y: (N, 1) float tensor of 0/1. Returns a dict with `seconds_per_epoch`
    (tiempo_epochs / epochs, training time only), `epoch_seconds` (each epoch's training time),
    `accuracy` (percent), `loss` (whole-set BCE, at the last report) and `parametros`.
    """
    if seed is not None:
        torch.manual_seed(seed)
        np.random.seed(seed)

    # Define un tipo para los tensores (CPU, float32: no GPU en esta máquina)
    t_type = T_TYPE

    # Numero de ejemplos y cantidad de features
    N = X.size()[0]
    f = X.size()[1]

    # d0 es la cantidad de features
    d0 = f

    # Crea los tensores de parámetros
    W1 = torch.randn(d0, d1).to(t_type) * init_v
    b1 = torch.zeros(d1).to(t_type)
    W2 = torch.randn(d1, d2).to(t_type) * init_v
    b2 = torch.zeros(d2).to(t_type)
    U = torch.randn(d2, 1).to(t_type) * init_v
    c = torch.randn(1).to(t_type)

    parametros = {'W1': W1, 'b1': b1, 'W2': W2, 'b2': b2, 'U': U, 'c': c}

    # Cuenta los parámetros en total
    cant_parametros = 0
    for P in parametros:
        cant_parametros += parametros[P].nelement()
    if verbose:
        print('Cantidad de parámetros:', cant_parametros)

    tiempo_epochs = 0
    epoch_seconds = []
    acc, L_total = float('nan'), float('nan')
    for e in range(1, epochs + 1):
        inicio_epoch = time.perf_counter()
        # Cantidad de iteraciones por epoch (b es el tamaño del batch)
        I = int(N / b)

        for i in range(I):
            x, y = elige_batch(X, Y, b)
            # Asegura de pasarlos al tipo correcto (en el notebook: a la GPU si fuera necesario)
            x = x.to(t_type)
            y = y.to(t_type)

            # Computa la pasada hacia adelante (forward)
            u1 = x.mm(W1).add(b1)
            h1 = tanh(u1)
            u2 = h1.mm(W2).add(b2)
            h2 = sig(u2)
            u3 = h2.mm(U).add(c)
            y_pred = sig(u3)

            # Computa la función de pérdida
            L = bi_cross_ent_loss(y_pred, y)

            # Computa los gradientes hacia atrás (backpropagation)
            # Estas son derivadas calculadas a mano
            dL_du3 = (1 / b) * (y_pred - y)
            dL_dU = torch.t(h2).mm(dL_du3)
            dL_dc = torch.sum(dL_du3, 0)
            dL_dh2 = dL_du3.mm(torch.t(U))
            dL_du2 = dL_dh2 * sig(u2) * (1 - sig(u2))
            dL_dW2 = torch.t(h1).mm(dL_du2)
            dL_db2 = torch.sum(dL_du2, 0)
            dL_dh1 = dL_du2.mm(torch.t(W2))
            dL_du1 = dL_dh1 * (1 - tanh(u1) * tanh(u1))
            dL_dW1 = torch.t(x).mm(dL_du1)
            dL_db1 = torch.sum(dL_du1, 0)

            gradientes = {'c': dL_dc, 'U': dL_dU, 'W2': dL_dW2, 'b2': dL_db2,
                          'W1': dL_dW1, 'b1': dL_db1}

            # Actualiza los pesos
            for P in parametros:
                parametros[P] -= lr * gradientes[P]

        epoch_seconds.append(time.perf_counter() - inicio_epoch)
        tiempo_epochs += epoch_seconds[-1]

        if e % reports_every == 0 or e == epochs:
            # Calcula la certeza de las predicciones sobre todo el conjunto
            X = X.to(t_type)
            Y = Y.to(t_type)

            # Predice usando la red
            H1 = tanh(X.mm(W1).add(b1))
            H2 = sig(H1.mm(W2).add(b2))
            Y_PRED = sig(H2.mm(U).add(c))

            # Calcula la pérdida de todo el conjunto
            L_total = float(bi_cross_ent_loss(Y_PRED, Y, safe=True))

            # Elige una clase dependiendo del valor de Y_PRED
            Y_PRED_BIN = (Y_PRED >= 0.5).float()

            correctos = torch.sum(Y_PRED_BIN == Y)
            acc = float(correctos) / N * 100

            if verbose:
                sys.stdout.write(
                    '\rEpoch:{0:03d}'.format(e) + ' Acc:{0:.2f}%'.format(acc)
                    + ' Loss:{0:.4f}'.format(L_total)
                    + ' Tiempo/epoch:{0:.3f}s'.format(tiempo_epochs / e))
    if verbose:
        sys.stdout.write('\n')

    return {'seconds_per_epoch': tiempo_epochs / epochs, 'epoch_seconds': epoch_seconds,
            'accuracy': acc, 'loss': L_total, 'parametros': parametros}


def notebook_data(N=5000, f=300):
    """The notebook's data: N x f random bits and N x 1 random 0/1 labels (after torch.manual_seed(1547))."""
    X = torch.rand(N, f)
    X = torch.bernoulli(X)

    Y = torch.rand(N, 1)
    Y = torch.bernoulli(Y)
    return X, Y


def preset(batch: int, epochs: int, engine: str = "manual", backend: str = "torch", seed: int = 0):
    """The notebook-000 preset as a redes config at `batch`, trained on all 5000 samples (an epoch has the
    notebook's N // b steps), on the CPU, without checkpoints."""
    import redes  # only the scripts that time redes need it; the notebook's loop runs on torch alone

    return redes.load_config(PRESET, [
        f"train.batch_size={batch}", f"train.epochs={epochs}", f"train.engine={engine}",
        f"train.backend={backend}", f"train.seed={seed}", "train.device=cpu", "train.checkpoint_every=0",
        "data.val_fraction=0", "data.test_fraction=0"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--b', type=int, default=32, help='batch size (notebook: 32)')
    parser.add_argument('--d1', type=int, default=300)
    parser.add_argument('--d2', type=int, default=400)
    parser.add_argument('--lr', type=float, default=0.06)
    parser.add_argument('--epochs', type=int, default=30)
    parser.add_argument('--init-v', type=float, default=0.8)
    args = parser.parse_args(argv)
    # Genera una semilla fija para que los experimentos sea repetibles.
    torch.manual_seed(1547)
    np.random.seed(1547)
    X, Y = notebook_data()
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, CPU')
    out = ejemplo_FFNN(X, Y, b=args.b, d1=args.d1, d2=args.d2, epochs=args.epochs, lr=args.lr,
                       init_v=args.init_v)
    print('seconds/epoch {0:.4f}  accuracy {1:.2f}%  loss {2:.4f}'.format(
        out['seconds_per_epoch'], out['accuracy'], out['loss']))


if __name__ == '__main__':
    main()
