; Inno Setup 6 script for PiggyDesk: PiggyDesk-Setup-<version>.exe
;
; Built by installer/build.py on Windows (or by hand):
;   iscc /DAppVersion=0.1.0 /DSourceDir=..\..\dist\PiggyDesk /DOutputDir=..\..\dist ^
;        /DVariant=cpu installer\windows\piggydesk.iss
; SourceDir is the one-folder PyInstaller app (PiggyDesk.exe, piggydesk-cli.exe, _internal\).
; Variant "cuda" names the GPU build PiggyDesk-Setup-<version>-cuda.exe; both install to the
; same place (one replaces the other).

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\PiggyDesk"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif
#ifndef Variant
  #define Variant "cpu"
#endif
#if Variant == "cuda"
  #define Suffix "-cuda"
#else
  #define Suffix ""
#endif

#define AppName "PiggyDesk"
#define AppExe "PiggyDesk.exe"

[Setup]
; A fixed AppId ties upgrades and the uninstaller together: never change it.
AppId={{6F1C2B7E-4D3A-4C8E-9B2F-7A5D1E3C9F40}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=PiggyDesk developers
AppComments=Bring old family photos back to colour
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Per-user install by default (no administrator needed); the person may choose all users.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename={#AppName}-Setup-{#AppVersion}{#Suffix}
SetupIconFile=..\..\resources\icons\piggydesk.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName} {#AppVersion}
Compression=lzma2/max
SolidCompression=yes
LZMANumBlockThreads=4
WizardStyle=modern
CloseApplications=yes
RestartApplications=no
#if Variant == "cuda"
; CUDA torch makes the bundle larger than the 2 GB a single Setup.exe may hold:
; ship Setup.exe with its .bin slices side by side.
DiskSpanning=yes
DiskSliceSize=max
#endif

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[InstallDelete]
; An upgrade replaces the whole bundle: stale libraries from an older version must not stay.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "Bring old family photos back to colour"
Name: "{autoprograms}\Uninstall {#AppName}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Python may leave caches inside the bundle; settings, logs and models live in the user's
; AppData folders and are kept.
Type: filesandordirs; Name: "{app}\_internal"
