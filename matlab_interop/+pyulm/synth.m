function varargout = synth(params, n_frames, varargin)
%SYNTH Labelled microbubble frames for one probe, by PgD or the physics simulator (pyulm.nn.pgd.synth).
%   block = pyulm.synth(params, n_frames) with params a struct of physics parameters
%   (center_frequency_mhz, fractional_bandwidth, n_cycles, pitch_mm, n_elements, f_number,
%   n_angles, angle_span_deg, pixel_size_mm, depth_mm), a .toml parameter file or a
%   Verasonics workspace .mat ('overrides', struct('f_number', 1.5) completes it).
%   Options by their Python names: 'out' (also write the PALA-style block .mat), 'shape' [Nz Nx],
%   'density' (bubbles per frame), 'seed', 'snr_db', 'source' ('pgd' or 'physics'), 'weights'
%   (PgD model folder), 'steps'. block has the file's variables: IQ [Nz Nx Nt], UF, PData,
%   GT = [z x frame id] (1-based pixels and frames), GT_intensity, Synth; and file.
pyulm.internal.check_count('pyulm.synth', nargin, 2, Inf, 'inputs');
kw = pyulm.internal.name_value('pyulm.synth', varargin);
varargout = pyulm.internal.forward('synth', nargout, {params, n_frames}, kw);
end
