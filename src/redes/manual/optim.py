"""The SGD step of the manual engine's fast path, taken through the backward pass's matrix products."""

from __future__ import annotations

from redes.arrays import Array, add_product_, add_scaled_
from redes.nn.optimizers import SGD


class SGDThroughProducts:
    """An `SGD` step (not Nesterov) over a `Network`'s one buffer that never writes a weight gradient out.

    During the backward pass each linear layer hands over its weight gradient as the product a @ b = dyᵀx,
    which one GEMM adds into the weight's momentum buffer (buf = momentum buf + dyᵀx, beta = momentum) or,
    without momentum, into the weight itself (W = (1 - lr decay) W - lr dyᵀx). The other parameters
    (biases, batch norm) write their gradients into the network's gradient buffer, and `finish` completes
    the step in a few passes over the whole buffer: the weights' decay into their buffer, the rest's
    momentum and decay, then p -= lr buf. Weights first in the buffer make the weights one slice.
    """

    def __init__(self, sgd: SGD, network, weight_decay: float, rest_decay: float):
        self.sgd, self.network = sgd, network
        self.weight_decay, self.rest_decay = weight_decay, rest_decay
        self.weight_buffers: dict = {}  # each linear weight's view of the momentum buffer, by id of the weight
        self._viewed = None  # the momentum buffer those views are of

    def begin(self) -> None:
        """Before a step: the momentum buffer made at the first step (zeros: momentum * 0 + g is torch's
        first step, buf = g), and the weights' views made again when it is a new array (a loaded state)."""
        sgd, net = self.sgd, self.network
        if sgd.momentum and sgd.buffers[0] is None:
            sgd.buffers[0] = net.xp.zeros_like(net.flat_params)
        if sgd.momentum and sgd.buffers[0] is not self._viewed:
            self.weight_buffers, self._viewed = net.weight_views(sgd.buffers[0]), sgd.buffers[0]

    def add_weight_gradient(self, weight: Array, a: Array, b: Array) -> None:
        """Take in the gradient a @ b of `weight`, after the layer has used the weight for its own dx."""
        sgd = self.sgd
        if sgd.momentum:
            add_product_(self.weight_buffers[id(weight)], a, b, 1.0, beta=sgd.momentum)
        else:
            add_product_(weight, a, b, -sgd.lr, beta=1 - sgd.lr * self.weight_decay)

    def finish(self) -> None:
        """The rest of the step, once every layer's backward has run."""
        sgd, net, n = self.sgd, self.network, self.network.n_weights
        params, rest_grads = net.flat_params, net.flat_grads[n:]
        if not sgd.momentum:
            if self.rest_decay:
                params[n:] *= 1 - sgd.lr * self.rest_decay
            add_scaled_(params[n:], rest_grads, -sgd.lr)
            return
        buffer = sgd.buffers[0]
        if self.weight_decay:
            add_scaled_(buffer[:n], params[:n], self.weight_decay)
        rest = buffer[n:]
        rest *= sgd.momentum
        rest += rest_grads
        if self.rest_decay:
            add_scaled_(rest, params[n:], self.rest_decay)
        add_scaled_(params, buffer, -sgd.lr)
