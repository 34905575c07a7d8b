/** As Triton: `none` loads everything once; `poll` also follows the repository; `explicit` loads on request. */
export const CONTROL_MODES = ['none', 'poll', 'explicit'] as const;
export type ControlMode = (typeof CONTROL_MODES)[number];
