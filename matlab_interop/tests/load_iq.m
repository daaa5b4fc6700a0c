function IQ = load_iq(D)
S = load(fullfile(D.workdir, 'PALA block ''one'' & co.mat'), 'IQ');
IQ = S.IQ;
end
