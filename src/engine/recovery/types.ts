// Recovery without fine-tuning: which method runs after the surgery.
//   none  the pruned weights as cut
//   bias  bias correction: the expected value of each removed channel folded into the next layer
//         (data-free), or the measured mean shift per output channel (with calibration data)
//   bn    re-estimate every remaining BatchNormalization's statistics on the calibration inputs
//   ls    least-squares reconstruction of every layer that lost input channels
//   auto  the best the available data allows (the report says what ran and why)
export const RECOVER_MODES = ['none', 'bias', 'bn', 'ls', 'auto'] as const;
export type RecoverMode = (typeof RECOVER_MODES)[number];
